"""Training one config: the data, the model, the callback that reports to Optuna, the objective.

- data:      MNIST, the course's fixed arrays, the search's validation split
- model:     config -> compiled Keras MLP; the model's vocabulary (activations, optimizers, ...)
- callbacks: the per-epoch link between a Keras fit and its Optuna trial (report, prune, overfit)
- objective: one trial: sample, fit, measure, constrain (synthetic: the TensorFlow-free stand-in)
- backend:   per-process Keras backend settings, determinism, versions

Nothing is re-exported here: importing the package must not import Keras, so the launcher and
the synthetic workers start without TensorFlow.
"""
