"""The tools a user or a maintainer runs, from the repository root.

    bash scripts/setup.sh [test]               .venv with the project (and its test extras)
    bash scripts/quickstart.sh                 the main job: tune mnist_mlp to a confirmed config
    bash scripts/test.sh [PYTEST ARGS]         the test suite, as CI runs it
    python scripts/reproduce_keras.py best.json   an export retrained in plain Keras (no tuner)
    python scripts/course_table.py             docs/COURSE.md from the course exercise studies
    python -m scripts.bench_search             benchmark: time to a confirmed config, arm by arm
    python -m scripts.bench_replicas           benchmark: K weight seeds in one fit against K fits
    python -m scripts.bench_storage            benchmark: the storage layer at scale

The benchmarks' shared pieces are the package scripts.bench; scripts.pgserver starts a PgBouncer
for the storage benchmark and tests/test_pgbouncer.py. Tests import them as `scripts.…` (pytest's
`pythonpath = ["."]`).
"""
