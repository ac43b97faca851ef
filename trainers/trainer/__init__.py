"""vtp's reference trainer: a scikit-learn classifier that follows the Vertex AI training contract.

Run it with `python -m trainer.task`. It runs in its own image (`trainers/Dockerfile`), so it
imports nothing from vtp.
"""


class TrainerError(Exception):
    """Bad input: the trainer stops with this message and a non-zero exit code."""
