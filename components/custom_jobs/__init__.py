"""Any KFP component as a Vertex custom job, on both targets.

`target.custom_job_from_component(component, machine_type=..., accelerator_type=...)` is GCPC's
`create_custom_training_job_from_component` with every option checked at build time. On
VERTEX the component runs as a CustomJob; on LOCAL it runs as itself through kfp.local, with
the same inputs and outputs.
"""

from vtp.components.custom_jobs.factory import (
    LOCAL_CUSTOM_JOB_FROM_COMPONENT,
    VERTEX_CUSTOM_JOB_FROM_COMPONENT,
    CustomJobFromComponent,
)
from vtp.components.custom_jobs.local_variant import LocalRunNotice
from vtp.components.custom_jobs.request import CustomJobRequest, custom_job_request

__all__ = [
    "LOCAL_CUSTOM_JOB_FROM_COMPONENT",
    "VERTEX_CUSTOM_JOB_FROM_COMPONENT",
    "CustomJobFromComponent",
    "CustomJobRequest",
    "LocalRunNotice",
    "custom_job_request",
]
