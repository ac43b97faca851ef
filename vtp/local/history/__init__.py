"""What ran, read back: runs and their steps, evaluations, tuning trials, registered models and
their lineage, from the records a vtp home holds. Read-only: nothing here writes to the home.

Shared by `vtp runs` and `vtp ui`.
"""
