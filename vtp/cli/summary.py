"""The readable summary printed at the end of a local run."""

from __future__ import annotations

import json

from vtp.local.run import RunRecord

#: Where `vtp ui` serves by default; a run's page is `<UI_ADDRESS>/runs/<run id>`.
UI_ADDRESS = "http://127.0.0.1:8765"
#: Artifact types the summary names, as evaluation results (data in the artifact's metadata)
#: or as reports (files).
_EVALUATION_TYPES = (
    "system.Metrics",
    "system.ClassificationMetrics",
    "system.SlicedClassificationMetrics",
    "google.RegressionMetrics",
    "system.RegressionMetrics",
)
_REPORT_TYPES = {"system.HTML": "HTML", "system.Markdown": "Markdown"}
#: Plots a metrics artifact's metadata holds, by metadata key.
_PLOTS = {
    "confusionMatrix": "confusion matrix",
    "confidenceMetrics": "ROC curve",
    "oneVsRestRoc": "ROC curve of each class against the rest",
    "actualValues": "predicted vs actual, residuals",
}


def _find(record: RunRecord, output: str, task: str = "") -> object | None:
    """Output `output` of task `task` (exactly), else of the first task whose name (the last
    part of its path) is `task` or `task-N`."""
    exact = record.tasks.get(task)
    if exact and output in exact.outputs:
        return exact.outputs[output]
    for name, t in record.tasks.items():
        if name.rsplit("/", 1)[-1].startswith(task) and output in t.outputs:
            return t.outputs[output]
    return None


def _local(uri: str, record: RunRecord) -> str:
    """The local file of `uri` on the run's Cloud Storage root."""
    from vtp.gcs import gcs_to_mount

    gcs_root = record.run_dir.parent.parent  # <home>/gcs/local-pipeline-root/<run>
    return gcs_to_mount(uri, gcs_root)


def summarize(record: RunRecord, registry=None) -> str:
    """Run id, steps, data, metrics, gate, registered model and where everything is."""
    lines = [
        f"run      {record.run_id}  ({record.state}, {record.seconds:.1f} s)",
        "steps    "
        + ", ".join(
            f"{task.name} {task.status.lower()}"
            for task in sorted(
                (t for t in record.tasks.values() if t.kind == "step"),
                key=lambda t: (not t.started, t.started),
            )
        ),
    ]
    counts = []
    for split in ("train", "validation", "test"):
        art = _find(record, split, "load-dataset")
        if isinstance(art, dict):
            counts.append(f"{split} {art['metadata'].get('row_count', '?')}")
    if counts:
        lines.append("data     " + " / ".join(counts) + " rows")
    metrics = _find(record, "metrics", "evaluate-model")
    if isinstance(metrics, dict) and metrics["metadata"]:
        shown = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(metrics["metadata"].items())
            if isinstance(v, int | float)
        )
        lines.append(f"metrics  {shown}")
    best = _find(record, "Output", "get-best-trial")
    if isinstance(best, str) and best:
        trial = json.loads(best)
        measured = ", ".join(
            f"{m['metricId']}={m['value']:.4f}"
            for m in trial.get("finalMeasurement", {}).get("metrics", [])
        )
        values = ", ".join(
            f"{p['parameterId']}={p['value']:g}"
            if isinstance(p["value"], float)
            else f"{p['parameterId']}={p['value']}"
            for p in trial["parameters"]
        )
        lines.append(f"best     trial {trial['id']}: {measured} | {values}")
    decision = _find(record, "Output", "challenger-decision")
    if decision:
        lines.append(f"decision {decision} wins")
    verdict = _find(record, "Output", "metric-gate")
    if verdict is not None:
        lines.append(f"gate     {verdict}")
    model = _find(record, "model", "model-upload")
    if isinstance(model, dict):
        name = model["metadata"].get("resourceName", "")
        detail = ""
        if registry is not None and name:
            version = registry.get(name)
            detail = (
                f"  {version.display_name!r} version {version.version_id}, "
                f"aliases: {', '.join(version.version_aliases) or 'none'}"
            )
        lines.append(f"model    {name}{detail}")
    elif verdict == "fail":
        lines.append("model    not uploaded: the metric did not pass the gate")
    artifact = _find(record, "model", "unmanaged-container-model")
    if isinstance(artifact, dict):
        uri = artifact["uri"]
        lines.append(
            f"model dir {uri}" + (f"  ({_local(uri, record)})" if uri.startswith("gs://") else "")
        )
    lines.extend(_evaluations(record))
    lines.extend(_reports(record))
    lines.append(f"artifacts {record.run_dir}")
    lines.append(f"log      {record.log_path}")
    lines.append(f"ui       {ui_address(record.run_id)}  (start it with `vtp ui`)")
    if record.error and record.cause:  # the lead said the step's own line: vtp's account
        first, *rest = record.error.splitlines()
        lines.append(f"error    {first}")
        # and what vtp knows of the cause (a trainer's missing module, a /gcs/ literal)
        lines.extend(
            f"hint     {line[len('hint:') :].strip()}" for line in rest if line.startswith("hint:")
        )
    elif record.error:
        lines.append(f"error    {record.error}")
    if record.failure_log:
        lines.append(f"last lines of {record.failed_step or 'the failed step'}:")
        lines.extend(f"    {line}" for line in record.failure_log)
    return "\n".join(lines)


def ui_address(run_id: str) -> str:
    """The page of run `run_id` in `vtp ui`."""
    return f"{UI_ADDRESS}/runs/{run_id}"


def _label(record: RunRecord, name: str) -> str:
    task = record.tasks[name]
    short = name.rsplit("/", 1)[-1]
    shown = task.display_name not in ("", short)
    return name + (f" [{task.display_name}]" if shown else "")


def _artifacts(record: RunRecord, types) -> list[tuple[str, str, dict]]:
    """(task, output name, artifact) of every step output whose type is in `types`, in the
    order the steps started."""
    found = []
    steps = sorted(
        (t for t in record.tasks.values() if t.kind == "step"),
        key=lambda t: (not t.started, t.started),
    )
    for task in steps:
        for output, value in sorted(task.outputs.items()):
            if isinstance(value, dict) and value.get("type", {}).get("schemaTitle") in types:
                found.append((task.name, output, value))
    return found


def _evaluations(record: RunRecord) -> list[str]:
    """`plots` lines: each evaluating step's metrics artifacts, the plots their metadata
    holds, and the file they are in (KFP keeps a metrics artifact's data in its metadata, in
    the step's `executor_output.json`)."""
    by_task: dict[str, list[str]] = {}
    plotted: set[str] = set()
    for task, output, artifact in _artifacts(record, _EVALUATION_TYPES):
        if not artifact.get("metadata"):  # e.g. a classifier's empty regression artifact
            continue
        plots = [_PLOTS[k] for k in artifact["metadata"] if k in _PLOTS]
        if plots:
            plotted.add(task)
        by_task.setdefault(task, []).append(output + (f" ({', '.join(plots)})" if plots else ""))
    lines = []
    for task, outputs in by_task.items():
        where = _output_file(record, task)
        label = "plots   " if task in plotted else "results "
        lines.append(f"{label} {_label(record, task)}: {', '.join(outputs)}")
        if where:
            lines.append(f"         data in {where}")
    return lines


def _output_file(record: RunRecord, task: str) -> str:
    """The step's `executor_output.json`, where its artifacts' metadata is, '' if absent."""
    from pathlib import Path

    from vtp.local.orchestrator.records import safe_name

    path = Path(record.run_dir) / safe_name(task) / "executor_output.json"
    return str(path) if path.is_file() else ""


def _reports(record: RunRecord) -> list[str]:
    """`report` lines: each HTML or Markdown artifact, by the file to open (its copy with an
    extension when the step wrote one)."""
    lines = []
    for task, _output, artifact in _artifacts(record, _REPORT_TYPES):
        kind = _REPORT_TYPES[artifact["type"]["schemaTitle"]]
        uri = (artifact.get("metadata") or {}).get("file") or artifact.get("uri", "")
        path = _local(uri, record) if uri.startswith("gs://") else uri
        lines.append(f"report   {_label(record, task)}: {path}  ({kind})")
    return lines


def failure_lead(record: RunRecord) -> str:
    """What a run that did not succeed says first: the failed step's own error line (the
    trainer's or component's last exception), then the log that holds it."""
    if record.cause:
        task = record.tasks.get(record.failed_step)
        name = record.failed_step
        if task is not None and task.display_name not in ("", name.rsplit("/", 1)[-1]):
            name += f" [{task.display_name}]"
        return (
            f"vtp: run {record.run_id} failed in step {name}:\n"
            f"  {record.cause}\n"
            f"  log: {record.cause_log}"
        )
    return f"vtp: run {record.run_id} {record.state.lower()}: {record.error}"


def as_json(record: RunRecord) -> str:
    return json.dumps(record.to_json(), indent=2, default=str)
