"""Study specs, trials and best-trial selection (tuning)."""
