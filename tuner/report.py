"""The capstone reporter: retrain candidates on the exact capstone split over several seeds.

    python -m tuner.report --study mnist_mlp [--storage URL] [--seeds K] [--out DIR] [--data PATH]
    python -m tuner.report --config best.json [--seeds K] [--out DIR] [--data PATH]

Each candidate is retrained on X_train = x_train[:6000] and judged on X_test = x_test[:10000]
(raw 0-255, one-hot) once per seed, against every capstone rule. Candidates are tried in order
of the study's objective, feasible ones first, then near-feasible ones (the validation gap
overstates the test gap), until one passes on at least --threshold of its seeds; with no trial
near the rules, the best trials are judged anyway. A candidate is dropped as soon as its
failures make the threshold unreachable. The course's own capstone answer, as its cell is
written, is judged the same way as a baseline row. `--seeds K` judges on seeds 0..K-1,
`--seeds A-B` on seeds A..B (e.g. an export's confirming seeds).

Exit codes: 0 a robust config was found, 1 none was, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tuner.cli import run_cli
from tuner.errors import StudyFileError, TunerError
from tuner.execution.storage import open_study, resolve_url
from tuner.judging.candidates import best_measured, candidates
from tuner.judging.judge import CapstoneRetrain, Judgement, Round, judge
from tuner.results.exercises import COURSE_ANSWER
from tuner.results.report import write_artifacts
from tuner.study import DEFAULTS, Capstone, load_study_spec, record
from tuner.study.parse import parse_section
from tuner.study.space import PARAMETERS, check_value
from tuner.training.data import load_mnist


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.report", description=__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--study", help="judge the study's best candidates")
    source.add_argument("--config", type=Path, help="judge an exported best.json")
    parser.add_argument("--storage")
    parser.add_argument(
        "--data", help="local Keras-layout mnist.npz (default: $TUNER_DATA or download)"
    )
    parser.add_argument(
        "--seeds", default="5", help="K (seeds 0..K-1) or A-B (seeds A..B); default 5"
    )
    parser.add_argument("--out", type=Path, help="artifact folder (default reports/<study>/)")
    parser.add_argument(
        "--threshold", type=float, default=0.8, help="pass rate that counts as robust"
    )
    parser.add_argument(
        "--gap-margin",
        type=float,
        default=0.01,
        help="also try trials whose validation gap exceeds the limit by this much",
    )
    parser.add_argument("--max-candidates", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true", help="skip the course-answer row")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    if args.max_candidates < 1 or not 0 < args.threshold <= 1:
        raise TunerError("--max-candidates must be >= 1 and --threshold in (0, 1]")

    study = None
    todo: list[tuple[str, dict[str, Any], int | None]]  # (label, config, trial number)
    threads = None  # an export's verdict names the threads per op its judge trained with
    if args.study:
        spec = load_study_spec(args.study)
        study = open_study(args.study, resolve_url(args.storage))
        pool = candidates(
            study, spec.constraints, gap_margin=args.gap_margin, limit=args.max_candidates
        )
        if not pool:
            pool = best_measured(study, limit=args.max_candidates)
            if not pool:
                raise TunerError(f"study {spec.name!r} has no complete trial to judge")
            print(
                f"no trial within the validation floor and gap limit + {args.gap_margin}; "
                f"judging the {len(pool)} best trials anyway"
            )
        todo = [
            (f"trial {t.number}", config, t.number)
            for t in pool
            if (config := record.config(t)) is not None  # candidates all have one
        ]
        rules, name = spec.capstone, spec.name
    else:
        exported = _read_export(args.config)
        rules = _export_rules(exported, args.config)
        todo = [
            (f"trial {exported.get('best_trial')}", exported["config"], exported.get("best_trial"))
        ]
        name = exported.get("study", args.config.stem)
        threads = _verdict_threads(exported, args.config)
    from tuner.training.backend import enable_determinism, set_threads

    if threads:
        # The verdict's judge's threads per op: only the same split of the sums gives its figures.
        # Set before any TensorFlow work, which fixes them.
        set_threads(threads)
        print(f"threads per op: {threads}, as the verdict's judge trained", flush=True)
    out = args.out or Path("reports") / name
    raw = load_mnist(args.data)
    enable_determinism()
    rounds = [Round("judging", tuple(seeds), args.threshold)]
    judged: list[Judgement] = []
    chosen = None
    for label, config, number in todo:
        retrain = CapstoneRetrain(config, raw, rules)
        [judgement] = judge(config, rounds, run_seeds=retrain, label=label, trial_number=number)
        judged.append(judgement)
        if judgement.robust:
            chosen = judgement
            break
    baseline = None
    if not args.no_baseline:
        [baseline] = judge(
            COURSE_ANSWER,
            rounds,
            run_seeds=CapstoneRetrain(COURSE_ANSWER, raw, rules),
            label="course answer",
            trial_number=None,
            stop_early=False,
        )

    write_artifacts(
        out, name=name, rules=rules, chosen=chosen, judged=judged, baseline=baseline, study=study
    )
    for j in judged + ([baseline] if baseline else []):
        lo, hi = j.interval
        print(
            f"{j.label}: pass rate {j.pass_rate:.2f} ({j.passes}/{len(j.runs)}), "
            f"Wilson 95% [{lo:.2f}, {hi:.2f}]{' ROBUST' if j.robust else ''}"
        )
    print(f"{'robust: ' + chosen.label if chosen else 'no robust config'}; report in {out}/")
    return 0 if chosen else 1


def parse_seeds(text: str) -> list[int]:
    """`K` -> seeds 0..K-1; `A-B` -> seeds A..B."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            seeds = list(range(low, high + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise TunerError(f"--seeds takes K or A-B, got {text!r}") from None
    if not seeds or seeds[0] < 0:
        raise TunerError(f"--seeds must name at least one seed >= 0, got {text!r}")
    return seeds


def _export_rules(exported: dict[str, Any], path: Path) -> Capstone:
    """The export's capstone rules, checked as a study file's `[capstone]` table is."""
    rules = exported.get("rules")
    try:
        return parse_section(rules if isinstance(rules, dict) else {}, "capstone", Capstone)
    except StudyFileError as e:
        raise TunerError(f"config file {path}: rules.{e.key}: {e.problem}") from None


def _verdict_threads(exported: dict[str, Any], path: Path) -> int | None:
    """The threads per op the export's verdict was judged with; None if it names none."""
    verdict = exported.get("verdict")
    threads = verdict.get("threads") if isinstance(verdict, dict) else None
    if threads is not None and (type(threads) is not int or threads < 1):
        raise TunerError(f"config file {path}: verdict.threads must be a positive integer")
    return threads


def _read_export(path: Path) -> dict[str, Any]:
    try:
        exported = json.loads(path.read_text())
    except FileNotFoundError:
        raise TunerError(f"config file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TunerError(f"config file {path} is not valid JSON: {e}") from None
    if not isinstance(exported, dict) or not isinstance(exported.get("config"), dict):
        raise TunerError(f"config file {path} has no 'config' object (write it with tuner.export)")
    missing = [k for k in DEFAULTS if k != "units" and k not in exported["config"]]
    if missing or "layers" not in exported["config"]:
        raise TunerError(f"config file {path}: config lacks {', '.join(missing or ['layers'])}")
    for name, value in exported["config"].items():
        if name in PARAMETERS:  # what the model builder accepts, as for a study file's value
            try:
                check_value(name, value, f"config.{name}")
            except StudyFileError as e:
                raise TunerError(f"config file {path}: {e.key}: {e.problem}") from None
    return exported


if __name__ == "__main__":
    run_cli(main)
