"""Local twins of Vertex ops: same names and signatures, executed on this machine."""

from vtp.local.twins.custom_job import custom_training_job
from vtp.local.twins.model_upload import model_upload

__all__ = ["custom_training_job", "model_upload"]
