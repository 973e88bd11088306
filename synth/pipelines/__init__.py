"""Pipelines: one module per job kind, driven by one domain-free scheduler.

- scheduler.py: batches in flight, checks overlapped with generation, resume, live stats;
- batch.py: what every kind's batch is made of (records so far, histories, seeds, step 1);
- config.py: the settings of a generation run;
- code.py: problems -> tests -> solutions -> sandbox runs -> corrections -> judge;
- math.py: problems -> ground truth -> solutions (text or executed code) -> sympy checks ->
  corrections.
"""
