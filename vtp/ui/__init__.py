"""`vtp ui`: a read-only local web UI of runs, evaluations, tuning trials and models."""
