"""The readable summary printed at the end of a local run."""

from __future__ import annotations

import json

from vtp.local.run import RunRecord


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
    lines.append(f"artifacts {record.run_dir}")
    lines.append(f"log      {record.log_path}")
    if record.error and not record.cause:
        lines.append(f"error    {record.error}")
    if record.failure_log:
        lines.append(f"last lines of {record.failed_step or 'the failed step'}:")
        lines.extend(f"    {line}" for line in record.failure_log)
    return "\n".join(lines)


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
