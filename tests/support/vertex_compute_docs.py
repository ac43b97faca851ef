"""Vertex AI's GPU tables for custom training, transcribed by hand, row by row, from the
Vertex AI documentation page "Configure compute resources for custom training" (section GPUs:
the accelerator-optimized machine types with their attached GPUs, and the table "Valid numbers
of GPUs for each machine type" for N1), for the tests to check vtp's own tables
(`vtp.components.specs.machines`) against. Nothing here is computed or imported from vtp:
agreement between the two is evidence, not an echo.

Accelerator-optimized rows were cross-read with Compute Engine's "Accelerator-optimized
machine family" page (each machine type has a fixed GPU model and count). The P100 column
is left out: Vertex retired the P100 (end of support 2026-09-15), and vtp refuses it.
"""

#: machine type -> (accelerator type, accelerator count), as the docs list them.
ACCELERATOR_OPTIMIZED = [
    ("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
    ("a2-highgpu-2g", "NVIDIA_TESLA_A100", 2),
    ("a2-highgpu-4g", "NVIDIA_TESLA_A100", 4),
    ("a2-highgpu-8g", "NVIDIA_TESLA_A100", 8),
    ("a2-megagpu-16g", "NVIDIA_TESLA_A100", 16),
    ("a2-ultragpu-1g", "NVIDIA_A100_80GB", 1),
    ("a2-ultragpu-2g", "NVIDIA_A100_80GB", 2),
    ("a2-ultragpu-4g", "NVIDIA_A100_80GB", 4),
    ("a2-ultragpu-8g", "NVIDIA_A100_80GB", 8),
    ("a3-highgpu-1g", "NVIDIA_H100_80GB", 1),
    ("a3-highgpu-2g", "NVIDIA_H100_80GB", 2),
    ("a3-highgpu-4g", "NVIDIA_H100_80GB", 4),
    ("a3-highgpu-8g", "NVIDIA_H100_80GB", 8),
    ("a3-megagpu-8g", "NVIDIA_H100_MEGA_80GB", 8),
    ("a3-ultragpu-8g", "NVIDIA_H200_141GB", 8),
    ("a4-highgpu-8g", "NVIDIA_B200", 8),
    ("a4x-highgpu-4g", "NVIDIA_GB200", 4),
    ("g2-standard-4", "NVIDIA_L4", 1),
    ("g2-standard-8", "NVIDIA_L4", 1),
    ("g2-standard-12", "NVIDIA_L4", 1),
    ("g2-standard-16", "NVIDIA_L4", 1),
    ("g2-standard-24", "NVIDIA_L4", 2),
    ("g2-standard-32", "NVIDIA_L4", 1),
    ("g2-standard-48", "NVIDIA_L4", 4),
    ("g2-standard-96", "NVIDIA_L4", 8),
    ("g4-standard-48", "NVIDIA_RTX_PRO_6000", 1),
    ("g4-standard-96", "NVIDIA_RTX_PRO_6000", 2),
    ("g4-standard-192", "NVIDIA_RTX_PRO_6000", 4),
    ("g4-standard-384", "NVIDIA_RTX_PRO_6000", 8),
]

#: "Valid numbers of GPUs for each machine type" (N1), one row per machine type, columns
#: V100, P4, T4; an empty tuple is a cell the docs leave empty.
N1_COLUMNS = ("NVIDIA_TESLA_V100", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_T4")
N1_ROWS = [
    ("n1-standard-4", (1, 2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-standard-8", (1, 2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-standard-16", (2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-standard-32", (4, 8), (2, 4), (2, 4)),
    ("n1-standard-64", (8,), (4,), (4,)),
    ("n1-standard-96", (8,), (4,), (4,)),
    ("n1-highmem-2", (1, 2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-highmem-4", (1, 2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-highmem-8", (1, 2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-highmem-16", (2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-highmem-32", (4, 8), (2, 4), (2, 4)),
    ("n1-highmem-64", (8,), (4,), (4,)),
    ("n1-highmem-96", (8,), (4,), (4,)),
    ("n1-highcpu-16", (2, 4, 8), (1, 2, 4), (1, 2, 4)),
    ("n1-highcpu-32", (4, 8), (2, 4), (2, 4)),
    ("n1-highcpu-64", (8,), (4,), (4,)),
    ("n1-highcpu-96", (8,), (4,), (4,)),
]

#: N1 sizes the docs give no GPU row: they take none.
N1_WITHOUT_GPUS = ["n1-standard-1", "n1-standard-2", "n1-highcpu-2", "n1-highcpu-4", "n1-highcpu-8"]
