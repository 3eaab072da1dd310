"""Benchmark part 1 (scripts/bench_search.py): time to a confirmed config, arm against arm.

- confirm:    what every arm shares: the clock, the rule for a pass (a config confirmed on fresh
              capstone seeds, the goal's own rule) and the result an arm reports
- arms/:      one module per competitor: this product, plain Optuna (TPE and random search),
              Keras Tuner (Bayesian and Hyperband); `arms.ARMS` names them
- schedule:   each (arm, seed) in its own process, one after another or pinned to cores
- doc:        the summary table, the ratio product / best peer, and the section appended to
              docs/BENCHMARKS.md
"""
