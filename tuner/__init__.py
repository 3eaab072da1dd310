"""Optuna-driven tuning of the course's Keras MLP on MNIST.

The path a trial takes, one module each:
data -> studyfile (search space) -> model -> objective/callbacks -> storage/worker/launch -> export.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"

import os as _os
import warnings as _warnings

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is noise on a CLI terminal.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Heartbeats, their retry callback and multivariate TPE are marked experimental in Optuna but
# are its documented way to do these things; the warnings would only clutter every log.
_warnings.filterwarnings("ignore", message=r".*(is experimental|experimental feature).*")
