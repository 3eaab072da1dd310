"""Side by side: one study run with the overfitting rules and once without, same seed and budget.

    PYTHONPATH=. python scripts/compare_pruning.py [--study mnist_mlp_epochs] [--n-trials 24]
        [--data PATH] [--baseline no-overfit|no-callback] [--same-sampler] [--seed N] [--save DIR]

Both arms run in this process, one trial at a time, with the study's pruner. The baseline runs
first with the study's sampler (its seed); the rules arm then trains the same configs, in the same
order and with the same weight seeds (each baseline trial is enqueued), so the two arms differ only
in where the callback stopped a run. With --same-sampler the rules arm samples for itself instead
(same seed), and the arms drift apart once pruned trials change what TPE has seen.
The baseline keeps the trial callbacks with their `[overfit]` rules disabled (pruner and
divergence still act), or with --baseline no-callback trains every trial to its last epoch.
Prints wall and CPU time (CPU time is the steadier figure on shared cores), epochs trained,
trials pruned by reason and the best validation accuracy of each arm, and their ratios.
--save DIR keeps both studies in DIR/compare.db for the dashboard.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna

from tuner.cli import run_cli
from tuner.errors import TunerError
from tuner.study import StudySpec, load_study_spec, record
from tuner.study.record import best_trial, count_trials


def run_arm(
    spec: StudySpec,
    data,
    *,
    n_trials: int,
    storage: str | None,
    callback: bool,
    replay: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    import keras

    from tuner.study import suggest
    from tuner.training.objective import Objective, fit_and_measure, trial_seed

    study = optuna.create_study(
        study_name=spec.name,
        storage=storage,
        sampler=spec.make_sampler(),
        pruner=spec.make_pruner(),
        direction=spec.direction,
        load_if_exists=False,
    )
    for params in replay or []:
        study.enqueue_trial(params)  # same config and trial number, hence the same weight seed
    if callback:
        objective = Objective(spec, data)
    else:

        def objective(trial: optuna.Trial) -> float:  # plain training, nothing reported
            config = suggest(trial, spec.space)
            result = fit_and_measure(
                config, data.train, data.validation, seed=trial_seed(spec, trial.number, config)
            )
            record.Measurements(
                train_accuracy=result["train_accuracy"],
                val_accuracy=result["val_accuracy"],
                gap=result["gap"],
                fit_seconds=result["fit_seconds"],
                history=result["history"],
            ).write(trial)
            return result[spec.metric]

    def clear(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        keras.backend.clear_session()  # both arms start every trial from the same clean state
        print(
            f"  [{study.study_name}] trial {trial.number}: {trial.state.name.lower()} "
            f"{_epochs(trial)}/{trial.params.get('epochs', '-')} epochs "
            f"{record.prune_reason(trial) or ''}",
            file=sys.stderr,
            flush=True,
        )

    start, cpu_start = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=n_trials, callbacks=[clear])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    trials = study.get_trials(deepcopy=False)
    counts = count_trials(trials)
    best, _ = best_trial(study, trials)
    return {
        "wall": wall,
        "cpu": cpu,
        "epochs": sum(_epochs(t) for t in trials),
        "max_epochs": sum(int(t.params.get("epochs", 0)) for t in trials),
        "complete": counts.complete,
        "pruned": counts.pruned,
        "failed": counts.failed,
        "reasons": dict(counts.prune_reasons),
        "best": max(
            (t.value for t in trials if t.value is not None and t.state.name == "COMPLETE"),
            default=float("nan"),
        ),
        "best_feasible": best.value if best is not None and counts.feasible else float("nan"),
        "best_trial": best.number if best is not None else None,
        "train_eval_seconds": sum(record.train_eval_seconds(t) for t in trials),
        "params": [t.params for t in trials],
    }


def _epochs(trial: optuna.trial.FrozenTrial) -> int:
    return len(record.history(trial).get("loss", []))


def report(
    spec: StudySpec, n_trials: int, with_rules: dict, base: dict, baseline: str, design: str
) -> None:
    def reasons(arm: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(arm["reasons"].items())) or "none"

    rows = [
        (
            "wall time (s)",
            f"{with_rules['wall']:.1f}",
            f"{base['wall']:.1f}",
            f"{with_rules['wall'] / base['wall']:.2f}",
        ),
        (
            "CPU time (s)",
            f"{with_rules['cpu']:.1f}",
            f"{base['cpu']:.1f}",
            f"{with_rules['cpu'] / base['cpu']:.2f}",
        ),
        (
            "epochs trained",
            str(with_rules["epochs"]),
            str(base["epochs"]),
            f"{with_rules['epochs'] / max(base['epochs'], 1):.2f}",
        ),
        ("epochs asked for", str(with_rules["max_epochs"]), str(base["max_epochs"]), ""),
        (
            "complete / pruned / failed",
            f"{with_rules['complete']}/{with_rules['pruned']}/{with_rules['failed']}",
            f"{base['complete']}/{base['pruned']}/{base['failed']}",
            "",
        ),
        (
            "best val accuracy",
            f"{with_rules['best']:.4f}",
            f"{base['best']:.4f}",
            f"{with_rules['best'] - base['best']:+.4f}",
        ),
        (
            "best feasible val accuracy",
            f"{with_rules['best_feasible']:.4f}",
            f"{base['best_feasible']:.4f}",
            "",
        ),
        (
            "train-accuracy eval (s)",
            f"{with_rules['train_eval_seconds']:.2f}",
            f"{base['train_eval_seconds']:.2f}",
            f"{100 * with_rules['train_eval_seconds'] / with_rules['wall']:.1f}% of wall",
        ),
    ]
    print(
        f"study {spec.name}: {n_trials} trials per arm, sampler seed {spec.sampler.get('seed')}, "
        f"pruner {spec.pruner.get('name', 'none')}, {design}, "
        f"overfit {dataclasses.asdict(spec.overfit)}"
    )
    print(f"{'':28} {'overfit rules':>14} {'baseline':>14} {'ratio/diff':>14}")
    print(f"{'':28} {'':>14} {baseline:>14}")
    for name, a, b, r in rows:
        print(f"{name:28} {a:>14} {b:>14} {r:>14}")
    print(f"pruned by reason, overfit rules: {reasons(with_rules)}")
    print(f"pruned by reason, baseline:      {reasons(base)}")
    print(
        f"saved: {100 * (1 - with_rules['wall'] / base['wall']):.0f}% wall time, "
        f"{100 * (1 - with_rules['cpu'] / base['cpu']):.0f}% CPU time, "
        f"{100 * (1 - with_rules['epochs'] / max(base['epochs'], 1)):.0f}% epochs; "
        f"best val accuracy change {with_rules['best'] - base['best']:+.4f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--study", default="mnist_mlp_epochs", help="a name from studies/ or a .toml path"
    )
    parser.add_argument("--n-trials", type=int, default=24, help="trials per arm (default 24)")
    parser.add_argument(
        "--data", help="local Keras-layout mnist.npz (default: $TUNER_DATA or download)"
    )
    parser.add_argument(
        "--baseline",
        choices=("no-overfit", "no-callback"),
        default="no-overfit",
        help="what the other arm runs (default: the callback with [overfit] disabled)",
    )
    parser.add_argument(
        "--same-sampler",
        action="store_true",
        help="let the rules arm sample for itself (same seed) instead of replaying "
        "the baseline's configs",
    )
    parser.add_argument("--seed", type=int, help="sampler seed (default: the study file's)")
    parser.add_argument("--save", help="keep both studies in DIR/compare.db (default: in memory)")
    args = parser.parse_args(argv)
    if args.n_trials < 1:
        raise TunerError(f"--n-trials must be at least 1, got {args.n_trials}")

    spec = load_study_spec(args.study)
    if args.seed is not None:
        spec = dataclasses.replace(spec, sampler={**spec.sampler, "seed": args.seed})
    if not spec.overfit.enabled:
        raise TunerError(f"{spec.path}: overfit.enabled is false; there is nothing to compare")
    storage = None
    if args.save:
        Path(args.save).mkdir(parents=True, exist_ok=True)
        db = Path(args.save) / "compare.db"
        if db.exists():
            raise TunerError(f"{db} exists already; pass an empty --save directory")
        storage = f"sqlite:///{db}"

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tuner.training.backend import configure_worker
    from tuner.training.data import load_study_data

    configure_worker()
    data = load_study_data(spec, args.data)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    off = dataclasses.replace(spec.overfit, enabled=False)
    base = run_arm(
        dataclasses.replace(spec, name=f"{spec.name}-{args.baseline}", overfit=off),
        data,
        n_trials=args.n_trials,
        storage=storage,
        callback=args.baseline == "no-overfit",
    )
    with_rules = run_arm(
        dataclasses.replace(spec, name=f"{spec.name}-overfit"),
        data,
        n_trials=args.n_trials,
        storage=storage,
        callback=True,
        replay=None if args.same_sampler else base["params"],
    )
    report(
        spec,
        args.n_trials,
        with_rules,
        base,
        args.baseline,
        "own sampler, same seed"
        if args.same_sampler
        else "rules arm replays the baseline's configs",
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
