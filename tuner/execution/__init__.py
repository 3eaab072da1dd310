"""Running trials in parallel on one shared storage, on one host or many.

- storage: storage URLs, opening RDBStorage, database errors as one line
- create:  creating a study once, before any worker starts
- loop:    one worker process's claim-train-tell loop (budget lock, heartbeats, outages)
- pool:    the worker processes on this host, their GPU or CPU slots, one progress line
"""
