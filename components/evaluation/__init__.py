"""Model evaluation: metrics of a trained classifier on a test split, as a KFP component."""

from vtp.components.evaluation.evaluate import evaluate_model
from vtp.components.evaluation.metrics import Evaluation, Roc, evaluate

__all__ = ["Evaluation", "Roc", "evaluate", "evaluate_model"]
