"""What depends on the Keras backend: per-process setup, determinism, versions.

TensorFlow is the product's backend. Keras 3 also runs on JAX (`KERAS_BACKEND=jax`), which
some GPU boxes have instead; everything here works with either.
"""

from __future__ import annotations

import contextlib
import os

import keras


def configure_worker() -> None:
    """A fair share of CPU threads per worker process, and GPU memory that grows on demand,
    so several small MLP trials can share one large GPU."""
    if keras.backend.backend() != "tensorflow":
        # JAX: the pool sets XLA_PYTHON_CLIENT_PREALLOCATE=false for GPU workers. A CPU worker
        # keeps to its cores ($TUNER_CPUS from its slot): XLA has no thread setting, and its
        # thread pool takes every core the process may use.
        cpus = os.environ.get("TUNER_CPUS")
        if cpus and hasattr(os, "sched_setaffinity"):
            cores = {int(cpu) for cpu in cpus.split(",")}
            # Every thread so far (imports start some); later ones inherit the calling thread's.
            tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]
            for task in tasks:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.sched_setaffinity(int(task), cores)
        return
    import tensorflow as tf

    threads = int(os.environ.get("TUNER_THREADS", "0"))
    if threads > 0:
        set_threads(threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def set_threads(threads: int) -> None:
    """Threads per TensorFlow op, and at most 2 ops at once. Before TensorFlow's first op."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def intra_op_threads() -> int | None:
    """The threads one TensorFlow op may use in this process, when set (TUNER_THREADS), else
    None. A seed's result can depend on it: the threads split a matmul's sums in another order,
    and a deep net's accuracy can move by points. A verdict records it so
    scripts/reproduce_keras.py trains with the same."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or None


def enable_determinism() -> None:
    """Same seed, same run: seeded ops plus deterministic kernels."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    found = {"keras": keras.__version__, "keras_backend": keras.backend.backend()}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    elif keras.backend.backend() == "jax":
        import jax

        found["jax"] = jax.__version__
    return found
