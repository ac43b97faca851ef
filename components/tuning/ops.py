"""Tuning components used by both targets: best trial, its hyperparameters and model, the
worker pools that retrain with them, a threshold gate and the trials report."""

from vtp.components.tuning.best_trial_model_dir import best_trial_model_dir
from vtp.components.tuning.get_best_hyperparameters import get_best_hyperparameters
from vtp.components.tuning.get_best_trial import get_best_trial
from vtp.components.tuning.get_worker_pool_specs import get_worker_pool_specs
from vtp.components.tuning.is_metric_beyond_threshold import is_metric_beyond_threshold
from vtp.components.tuning.trials_report import trials_report

__all__ = [
    "best_trial_model_dir",
    "get_best_hyperparameters",
    "get_best_trial",
    "get_worker_pool_specs",
    "is_metric_beyond_threshold",
    "trials_report",
]
