"""Optuna-driven tuning of the course's Keras MLP on MNIST.

The rooms, lowest first; each imports only the rooms before it (tests/test_layout.py):
    study      the study file: search space, sampler, constraints, goal; what a trial records
    training   data, model, callbacks and the objective: one trial's fit
    judging    retraining a config on the capstone split over seeds; the goal's judging state
    execution  storage, workers, the trial budget, heartbeats: running trials in parallel
    results    reports, the verdict's hand-over, export, plots, the dashboard
and the commands on top: launch, worker, export, report, dashboard, plots (tuner.cli).
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
