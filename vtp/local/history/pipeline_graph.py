"""The graph of a run's tasks: which task each one waited for.

A run record names its tasks by path (`train`, `condition-1` with its children,
`for-loop-2[0]/train`) and their parent; the dependencies come from the compiled pipeline the
run executed (`runs/<run>/pipeline.yaml`, a copy of it): each DAG's tasks with their
`dependentTasks`. A task whose DAG gives it no dependency hangs from its parent group, so
the graph is connected the way the pipeline nests.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from vtp.local.orchestrator import records as rec

#: The copy of the compiled pipeline in a run's record directory (`runner.PIPELINE_COPY`).
PIPELINE_COPY = "pipeline.yaml"

Dags = dict[str, dict[str, dict[str, Any]]]


@lru_cache(maxsize=32)
def _dags(path: Path, mtime: float) -> Dags:
    """{component name ("" = root): {task name: {"component", "dependencies"}}}."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        spec = next((d for d in yaml.load_all(f, Loader=loader) if isinstance(d, dict)), {})
    bodies = {"": spec.get("root") or {}, **(spec.get("components") or {})}
    out: Dags = {}
    for name, body in bodies.items():
        tasks = ((body or {}).get("dag") or {}).get("tasks") or {}
        if name and not tasks:
            continue
        out[name] = {
            task: {
                "component": ((t.get("componentRef") or {}).get("name") or ""),
                "dependencies": list(t.get("dependentTasks") or []),
            }
            for task, t in tasks.items()
        }
    return out


def load_dags(record_dir: Path) -> Dags:
    """The DAGs of the pipeline a run executed; {} when its copy is missing or unreadable."""
    path = record_dir / PIPELINE_COPY
    with contextlib.suppress(OSError, ValueError, ImportError, AttributeError):
        return _dags(path, path.stat().st_mtime)
    return {}


def dependencies(record: rec.RunRecord) -> dict[str, list[str]]:
    """{task path: the paths of the tasks it follows}, for every task of the record."""
    dags = load_dags(record.record_dir)
    component: dict[str, str] = {}

    def component_of(path: str) -> str | None:
        """The component a task path runs (a DAG's name for a group)."""
        if path in component:
            return component[path]
        task = record.tasks.get(path)
        if task is None:
            return None
        parent_component = "" if not task.parent else component_of(task.parent)
        local = path.rsplit("/", 1)[-1]
        spec = (
            dags.get(parent_component or "", {}).get(local)
            if parent_component is not None
            else None
        )
        component[path] = spec["component"] if spec else None  # type: ignore[assignment]
        return component[path]

    out: dict[str, list[str]] = {}
    for path, task in record.tasks.items():
        local = path.rsplit("/", 1)[-1]
        prefix = path[: len(path) - len(local)]
        parent_component = "" if not task.parent else component_of(task.parent)
        spec = dags.get(parent_component, {}).get(local) if parent_component is not None else None
        deps = [prefix + d for d in (spec or {}).get("dependencies", [])]
        deps = [d for d in deps if d in record.tasks]
        if not deps and task.parent and task.parent in record.tasks:
            deps = [task.parent]
        out[path] = deps
    return out
