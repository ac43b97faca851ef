"""The local runtime behind the twins: custom-job executor, tuner and model registry."""
