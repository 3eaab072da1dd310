"""Running trials in parallel on one shared storage, on one host or many.

- storage:   storage URLs, opening RDBStorage, database errors as one line
- create:    creating a study once, before any worker starts
- budget:    the trial-budget lock that keeps parallel workers from overshooting the target
- heartbeat: heartbeat settings and thread; failing and re-queueing trials of lost workers
- loop:      one worker process's claim-train-tell loop (waits out database outages); in a
             goal study it also claims candidates to judge (tuner.judging.goal)
- slots:     which GPU, or what share of CPU threads, each worker process gets
- progress:  one progress line for the whole study, and the summary at the end
- lifeline:  processes the launcher starts stop when it dies
- pool:      the worker processes on this host, started and stopped together; the supervision
             (progress line, Ctrl-C, orphaned trials) every kind of worker group shares
- ray_pool:  the same workers as Ray actors on any node of a Ray cluster (optional extra)
"""
