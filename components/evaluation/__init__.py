"""Model evaluation: metrics of a trained classifier on a test split, as a KFP component.

The metrics themselves (`metrics`: numpy, pandas, scikit-learn) load on first use: building
and compiling a pipeline needs only the component.
"""

from vtp.components.evaluation.evaluate import evaluate_model

# Importing the component's module bound the name `evaluate` to it; the name is the metrics
# function's (below).
del evaluate  # noqa: F821

__all__ = ["Evaluation", "Roc", "evaluate", "evaluate_model"]


def __getattr__(name: str):
    if name in ("Evaluation", "Roc", "evaluate"):
        from vtp.components.evaluation import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
