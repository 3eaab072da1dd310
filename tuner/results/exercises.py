"""The course's exercises (sections 2.2-2.9) and its capstone answer, as data.

Each is a grid study in studies/course_*.toml; tuner.results.course judges a finished one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuner.study import DEFAULTS

# The course's own capstone answer (section 2.10) as its cell is written, which the reporter
# judges beside the candidates: 256-128 sigmoid, one Dropout(0.5) after the second hidden
# layer, SGD 0.1, batch 128, 10 epochs.
COURSE_ANSWER: dict[str, Any] = {
    **{k: v for k, v in DEFAULTS.items() if k != "units"},
    "layers": [256, 128],
    "n_layers": 2,
    "activation": "sigmoid",
    "dropout": 0.5,
    "dropout_position": "second",
    "loss": "categorical_crossentropy",
    "optimizer": "sgd",
    "learning_rate": 0.1,
    "batch_size": 128,
    "epochs": 10,
    "rescale": False,
}

# What a verdict can compare: column title, and +1 when higher is better.
METRICS = {
    "test_accuracy": ("test accuracy", 1),
    "train_accuracy": ("train accuracy", 1),
    "gap": ("gap (train - test)", -1),
    "abs_gap": ("abs(train - test)", -1),  # how close train and test accuracy stay
}


@dataclass(frozen=True)
class Exercise:
    study: str  # study name, studies/<study>.toml
    section: str
    title: str
    question: str  # what the course asks the learner to compare
    expected: str | None  # the course's answer, as an option label; None: the course names none
    course_says: str  # what the course states or shows
    metric: str = "test_accuracy"  # what the verdict compares (see METRICS)
    names: dict[str, str] = field(default_factory=dict)  # option label -> name shown
    group_by: str | None = None  # two-parameter grids: also the best option per value of this
    curves: bool = False  # show mean accuracy per epoch, train and test


EXERCISES = (
    Exercise(
        "course_2_2_structure",
        "2.2",
        "Network structure",
        "Hidden layers A = 256 then 128, B = 256 then 128 x3, or C = 256 then 1568?",
        "256-128",
        "A is the answer.",
        names={
            "256-128": "A: 256-128",
            "256-128-128-128": "B: 256-128-128-128",
            "256-1568": "C: 256-1568",
        },
    ),
    Exercise(
        "course_2_3_dropout",
        "2.3",
        "Dropout",
        "No dropout, or dropout 0.5 after the second hidden layer? Compare the train and "
        "test accuracy curves.",
        "0.5",
        "Dropout curbs overfitting: train and test accuracy stay closer. The verdict compares "
        "abs(train - test) accuracy, train accuracy evaluated after training (dropout off).",
        metric="abs_gap",
        names={"0.0": "no dropout", "0.5": "dropout 0.5"},
        curves=True,
    ),
    Exercise(
        "course_2_4_activation",
        "2.4",
        "Activation function",
        "Sigmoid or ReLU in the hidden layers?",
        None,
        "The exercise names no answer; the table reports what the runs favour.",
    ),
    Exercise(
        "course_2_5_loss",
        "2.5",
        "Loss function",
        "Mean squared error or categorical cross-entropy?",
        None,
        "The exercise names no answer; the table reports what the runs favour.",
    ),
    Exercise(
        "course_2_6_optimizer",
        "2.6",
        "Optimizer",
        "SGD, SGD with momentum, Adam, RMSprop, Adagrad or Adadelta (each at four learning rates)?",
        None,
        "The exercise names no answer; the table reports what the runs favour.",
        group_by="optimizer",
    ),
    Exercise(
        "course_2_7_learning_rate",
        "2.7",
        "Learning rate",
        "SGD learning rate 0.01, 0.1 or 1.0?",
        "0.1",
        "0.1 is the answer.",
    ),
    Exercise(
        "course_2_8_batch_size",
        "2.8",
        "Batch size",
        "Batch size 16, 32 or 64?",
        "64",
        "64 is the answer.",
    ),
    Exercise(
        "course_2_9_epochs",
        "2.9",
        "Epochs",
        "5, 10 or 60 epochs (1,500 training rows, no dropout)?",
        "10",
        "10 is the answer.",
    ),
)
