"""Any KFP component as a Vertex custom job.

`custom_job_from_component(component, machine_type=..., accelerator_type=...)` is GCPC's
`create_custom_training_job_from_component` with every option checked at build time. The step
runs as a Vertex CustomJob; `vtp run --local` runs the same compiled step on the local
custom-job twin, the wrapped component as the job's replica.
"""

from vtp.components.custom_jobs.factory import CustomJobFromComponent, custom_job_from_component
from vtp.components.custom_jobs.request import CustomJobRequest, custom_job_request

__all__ = [
    "CustomJobFromComponent",
    "CustomJobRequest",
    "custom_job_from_component",
    "custom_job_request",
]
