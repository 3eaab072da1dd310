"""The benchmark harness (python -m scripts.bench_search, python -m scripts.bench_storage).

- doc:             machine facts, load average, markdown tables, and the dated section a
                   benchmark prints for docs/BENCHMARKS.md (or writes to --doc PATH)
- variants:        a study file with some values overridden, written for a launch to run
- confirm:         what every search arm shares: the clock, the goal's rule for a pass (a config
                   confirmed on fresh capstone seeds) and the result an arm reports
- arms/:           one module per search competitor: this product, plain Optuna (TPE, random),
                   Keras Tuner (Bayesian, Hyperband); `arms.ARMS` names them
- schedule:        each (arm, seed) in its own process, one after another or pinned to cores
- summary:         the search's table, the ratio product / best peer, its section's body
- storage_figures: what the storage benchmark reads off a finished run; TPE's time per trial
"""
