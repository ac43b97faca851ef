"""vtp's pipeline definitions: `training`, `tuning` and `distributed`."""
