"""kfp.local's console output becomes progress events; unresolved conditions are caught."""

import io

from vtp.local.logtap import LogTap


def _events(text: str):
    seen = []
    log = io.StringIO()
    tap = LogTap(log=log, on_event=seen.append)
    tap.write(text)
    tap.close_tap()
    return seen, log.getvalue()


def test_steps_trials_skips_and_unresolved_conditions_are_recognised():
    seen, log = _events(
        "01:00:00.1 - INFO - Executing task \x1b[96m'load-dataset'\x1b[0m\n"
        "01:00:01.2 - INFO - Task \x1b[96m'load-dataset'\x1b[0m finished with status "
        "\x1b[92mSUCCESS\x1b[0m\n"
        "    trial 3 SUCCEEDED auc=0.99 (step 100) | learning_rate=0.1\n"
        "01:00:02.0 - INFO - Skipping conditional task condition-2 (condition evaluated to False)\n"
        "WARNING:root:Could not resolve parent input: evaluate-model-primary_metric_value\n"
        "partial line without newline"
    )
    assert [(e.kind, e.task, e.status) for e in seen] == [
        ("start", "load-dataset", ""),
        ("end", "load-dataset", "SUCCESS"),
        ("trial", "3", "SUCCEEDED auc=0.99 (step 100) | learning_rate=0.1"),
        ("skip", "condition-2", ""),
        ("unresolved", "", "Could not resolve parent input: evaluate-model-primary_metric_value"),
    ]
    assert "\x1b[" not in log and log.endswith("partial line without newline\n")
