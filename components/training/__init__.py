"""Custom training job helpers: the job payload and the model artifact it produces."""

from vtp.components.training.job_spec import training_job_spec
from vtp.components.training.model_artifact import unmanaged_container_model

__all__ = ["training_job_spec", "unmanaged_container_model"]
