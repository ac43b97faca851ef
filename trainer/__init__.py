"""vtp's reference trainer: a scikit-learn classifier that follows the Vertex AI training contract.

Run it with `python -m trainer.task`. It runs in its own image (`trainer/Dockerfile`), so it
imports nothing from the `components` package.
"""

__version__ = "0.1.0"


class TrainerError(Exception):
    """Bad input: the trainer stops with this message and a non-zero exit code."""
