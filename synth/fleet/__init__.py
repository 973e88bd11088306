"""The fleet: Celery workers over Redis run the same pipeline functions on many machines.

app.py      the Celery app, its queues and reliability settings
jobs.py     job specs: validation before anything is queued
state.py    a job's state in Redis: status, chunks done and parked, attempts
tasks.py    the tasks: a chunk of slots (generate queue), a check (verify queue)
checks.py   checks as JSON, between a generate and a verify worker
"""
