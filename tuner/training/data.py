"""MNIST loading and the two splits the product uses.

The course's data definitions are fixed and never changed here:
    X_train = x_train.reshape(60000, 784)[:6000]      raw 0-255, float32
    X_test  = x_test.reshape(10000, 784)[:10000]
    labels one-hot
Any scaling happens inside the model (a Rescaling layer), never in these arrays.

The search reads a *validation* split (training rows 6000-16000 by default), disjoint from both
capstone arrays; only the reporter reads the capstone test set. The course's exercise studies
(studies/course_*.toml) are the exception, by their `[data] evaluate_on = "test"`: like the
course, they measure each option on x_test[:test_rows]. They compare options; they do not
search for a capstone config.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tuner.errors import TunerError

if TYPE_CHECKING:
    from tuner.study import StudySpec

DATA_ENV = "TUNER_DATA"
N_CLASSES = 10
_EXPECTED = {
    "x_train": (60000, 28, 28),
    "y_train": (60000,),
    "x_test": (10000, 28, 28),
    "y_test": (10000,),
}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (n, 784) float32, raw 0-255
    y: np.ndarray  # (n, 10) float32 one-hot

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class RawMnist:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def resolve_data_path(path: str | None) -> str | None:
    """`--data` wins, then $TUNER_DATA; None means the normal Keras download."""
    return path or os.environ.get(DATA_ENV) or None


def load_mnist(path: str | None = None) -> RawMnist:
    """Load MNIST from a local Keras-layout .npz, or through `keras.datasets.mnist` when None."""
    path = resolve_data_path(path)
    if path is None:
        return _download_with_keras()
    if not os.path.isfile(path):
        raise TunerError(f"data file {path!r} does not exist (pass --data PATH or set {DATA_ENV})")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in _EXPECTED if key in f}
    except Exception as e:  # zip/npy errors come in many types
        raise TunerError(f"data file {path!r} is not a readable .npz: {e}") from e
    missing = [key for key in _EXPECTED if key not in arrays]
    if missing:
        raise TunerError(
            f"data file {path!r} has no array {missing[0]!r} (Keras MNIST layout expected)"
        )
    for key, shape in _EXPECTED.items():
        if arrays[key].shape != shape:
            raise TunerError(
                f"data file {path!r}: {key} has shape {arrays[key].shape}, expected {shape}"
            )
    return RawMnist(**arrays)


def _download_with_keras() -> RawMnist:
    import keras  # imported here so that local-file runs and CLIs stay fast

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:
        raise TunerError(
            f"could not download MNIST through Keras ({e}); pass --data PATH to a local mnist.npz"
        ) from e
    return RawMnist(x_train, y_train, x_test, y_test)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(N_CLASSES, dtype=np.float32)[labels]


def capstone_train(raw: RawMnist, rows: int = 6000) -> Split:
    """The course's `X_train = x_train.reshape(60000, 784)[:6000]`, one-hot labels."""
    x = raw.x_train.reshape(60000, 784)[:rows].astype(np.float32)
    return Split(x, one_hot(raw.y_train[:rows]))


def capstone_test(raw: RawMnist, rows: int = 10000) -> Split:
    """The course's `X_test = x_test.reshape(10000, 784)[:10000]`, one-hot labels."""
    x = raw.x_test.reshape(10000, 784)[:rows].astype(np.float32)
    return Split(x, one_hot(raw.y_test[:rows]))


def validation_split(raw: RawMnist, start: int, stop: int) -> Split:
    """Training rows [start, stop): the search's stand-in for the test set."""
    x = raw.x_train.reshape(60000, 784)[start:stop].astype(np.float32)
    return Split(x, one_hot(raw.y_train[start:stop]))


def digest(*splits: Split) -> str:
    """sha256 over the arrays a run used, so a result can be tied to its exact data."""
    h = hashlib.sha256()
    for split in splits:
        h.update(np.ascontiguousarray(split.x).tobytes())
        h.update(np.ascontiguousarray(split.y).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class SearchData:
    """What trials train on and are measured on (`validation`, the held-out split)."""

    train: Split
    validation: Split  # validation rows; x_test rows only when evaluate_on == "test"
    digest: str
    evaluated_on: str = "validation"


def load_search_data(
    path: str | None,
    *,
    train_rows: int,
    validation_rows: tuple[int, int],
    evaluate_on: str = "validation",
    test_rows: int = 10000,
) -> SearchData:
    """The study's data; x_test is read only when the study file says `evaluate_on = "test"`."""
    raw = load_mnist(path)
    train = capstone_train(raw, train_rows)
    if evaluate_on == "test":
        held_out = capstone_test(raw, test_rows)
    elif evaluate_on == "validation":
        held_out = validation_split(raw, *validation_rows)
    else:
        raise TunerError(f"evaluate_on must be 'validation' or 'test', got {evaluate_on!r}")
    return SearchData(train, held_out, digest(train, held_out), evaluate_on)


def load_study_data(spec: StudySpec, path: str | None) -> SearchData:
    """The rows a study trains and measures on, as its [data] table says."""
    return load_search_data(
        path,
        train_rows=spec.data.train_rows,
        validation_rows=spec.data.validation_rows,
        evaluate_on=spec.data.evaluate_on,
        test_rows=spec.data.test_rows,
    )
