"""A PipelineJob's tasks in the Vertex AI stand-in: the spec's DAGs flattened in dependency
order, and the tasks' states and `task_details` as the job runs, ends, fails or is cancelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.cloud import aiplatform_v1

from standins.vertex_common import now
from standins.vertex_errors import ApiError

#: Job and task states.
State = aiplatform_v1.PipelineState
TaskState = aiplatform_v1.PipelineTaskDetail.State


@dataclass
class Outcome:
    """How a job ends: `SUCCEEDED`, or `FAILED` in `task` (None: before any task) with
    `message`. `skipped` names condition tasks (DAG tasks) whose condition was false: they
    and everything under them end SKIPPED."""

    state: str = "SUCCEEDED"
    task: str | None = None
    message: str = ""
    skipped: tuple[str, ...] = ()


@dataclass
class TaskNode:
    """A task of the pipeline spec, flattened: DAG tasks (conditions, loops) are followed by
    their own tasks, whose `parent` they are."""

    name: str
    parent: str | None
    depends: tuple[str, ...]
    is_dag: bool
    task_id: int = 0


@dataclass
class JobRecord:
    """A stored job, its planned outcome and how many GETs it has answered."""

    job: aiplatform_v1.PipelineJob
    outcome: Outcome
    tasks: list[TaskNode]
    seq: int
    root_id: int
    gets: int = 0
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline_name(self) -> str:
        return self.spec.get("pipelineInfo", {}).get("name", "")

    @property
    def job_id(self) -> str:
        return self.job.name.rsplit("/", 1)[-1]


def _order(tasks: dict[str, Any]) -> list[str]:
    """Task names in dependency order, ties in spec order."""
    deps = {name: set(_depends(task)) & set(tasks) for name, task in tasks.items()}
    done: list[str] = []
    while len(done) < len(tasks):
        ready = [n for n in tasks if n not in done and deps[n] <= set(done)]
        if not ready:  # a cycle: Vertex would refuse it; keep spec order
            ready = [n for n in tasks if n not in done]
        done.append(ready[0])
    return done


def _depends(task: dict[str, Any]) -> list[str]:
    names = list(task.get("dependentTasks", []))
    for kind in ("parameters", "artifacts"):
        for spec in task.get("inputs", {}).get(kind, {}).values():
            for key in ("taskOutputParameter", "taskOutputArtifact"):
                producer = spec.get(key, {}).get("producerTask")
                if producer:
                    names.append(producer)
    return names


def flatten_tasks(spec: dict[str, Any], base_id: int) -> list[TaskNode]:
    components = spec.get("components", {})
    nodes: list[TaskNode] = []

    def walk(dag: dict[str, Any], parent: str | None) -> None:
        tasks = dag.get("tasks", {})
        for name in _order(tasks):
            task = tasks[name]
            component = components.get(task.get("componentRef", {}).get("name", ""), {})
            is_dag = "dag" in component
            nodes.append(TaskNode(name, parent, tuple(_depends(task)), is_dag))
            if is_dag:
                walk(component["dag"], name)

    walk(spec.get("root", {}).get("dag", {}), None)
    for i, node in enumerate(nodes, start=1):
        node.task_id = base_id + i
    return nodes


def _ancestors(nodes: dict[str, TaskNode], name: str) -> list[str]:
    out, parent = [], nodes[name].parent
    while parent is not None:
        out.append(parent)
        parent = nodes[parent].parent
    return out


def _derive(children: list[TaskState]) -> TaskState:
    states = set(children)
    if len(states) > 1:
        states.discard(TaskState.SKIPPED)  # a branch not taken does not hold its DAG back
        children = [c for c in children if c != TaskState.SKIPPED]
    if len(states) == 1:
        return children[0]
    for state in (TaskState.FAILED, TaskState.CANCELLED, TaskState.RUNNING):
        if state in states:
            return state
    if TaskState.PENDING in states and TaskState.SUCCEEDED in states:
        return TaskState.RUNNING
    if TaskState.NOT_TRIGGERED in states:
        return TaskState.NOT_TRIGGERED
    return TaskState.PENDING


def task_states(
    record: JobRecord, phase: str, step: int = 1, steps: int = 1
) -> dict[str, TaskState]:
    """Each task's state: `phase` is `running` (step of steps), `succeeded`, `failed` or
    `cancelled` (from the states the job had)."""
    nodes = {n.name: n for n in record.tasks}
    skipped = set(record.outcome.skipped)
    skipped |= {n.name for n in record.tasks if skipped & set(_ancestors(nodes, n.name))}
    leaves = [n.name for n in record.tasks if not n.is_dag and n.name not in skipped]
    # a branch not taken shows SKIPPED once the run has ended; until then it waits
    unreached = {"running": TaskState.PENDING, "cancelled": TaskState.CANCELLED}
    states = dict.fromkeys(skipped, unreached.get(phase, TaskState.SKIPPED))
    if phase == "running":
        done = (step - 1) * len(leaves) // max(steps, 1)
        if record.outcome.state == "FAILED" and record.outcome.task in leaves:
            # the task that will fail never shows SUCCEEDED, nor do the tasks after it
            done = min(done, leaves.index(record.outcome.task))
        for i, name in enumerate(leaves):
            states[name] = (
                TaskState.SUCCEEDED
                if i < done
                else TaskState.RUNNING
                if i == done
                else TaskState.PENDING
            )
    elif phase == "succeeded":
        states.update(dict.fromkeys(leaves, TaskState.SUCCEEDED))
    elif phase == "cancelled":
        previous = {d.task_name: d.state for d in record.job.job_detail.task_details}
        for name in leaves:
            kept = previous.get(name) == TaskState.SUCCEEDED
            states[name] = TaskState.SUCCEEDED if kept else TaskState.CANCELLED
    else:
        failed = record.outcome.task
        if failed is None:
            states = dict.fromkeys(states.keys() | set(leaves), TaskState.NOT_TRIGGERED)
        else:
            broken = {failed, *_ancestors(nodes, failed)}
            blocked: set[str] = set()
            for node in record.tasks:
                if node.name in broken:
                    continue
                if any(d in broken or d in blocked for d in node.depends) or (
                    node.parent in blocked
                ):
                    blocked.add(node.name)
            fast = (
                record.job.runtime_config.failure_policy
                == aiplatform_v1.PipelineFailurePolicy.PIPELINE_FAILURE_POLICY_FAIL_FAST
            )
            after = False
            for name in leaves:
                if name == failed:
                    states[name], after = TaskState.FAILED, True
                elif name in blocked or (fast and after):
                    states[name] = TaskState.NOT_TRIGGERED
                else:
                    states[name] = TaskState.SUCCEEDED
            states.update(dict.fromkeys(skipped & blocked, TaskState.NOT_TRIGGERED))
    for node in reversed(record.tasks):
        if node.is_dag and node.name not in skipped:
            children = [states[n.name] for n in record.tasks if n.parent == node.name]
            states[node.name] = _derive(children) if children else TaskState.SUCCEEDED
    return states


def task_details(
    record: JobRecord, states: dict[str, TaskState], root_state: TaskState
) -> list[aiplatform_v1.PipelineTaskDetail]:
    """`job_detail.task_details`: the root task (the pipeline) first, then every task."""
    job = record.job
    started = job.start_time or job.create_time
    finished = now()
    details = [
        aiplatform_v1.PipelineTaskDetail(
            task_id=record.root_id,
            task_name=record.pipeline_name,
            create_time=job.create_time,
            start_time=started,
            state=root_state,
        )
    ]
    ids = {n.name: n.task_id for n in record.tasks}
    for node in record.tasks:
        state = states[node.name]
        detail = aiplatform_v1.PipelineTaskDetail(
            task_id=node.task_id,
            parent_task_id=ids[node.parent] if node.parent else record.root_id,
            task_name=node.name,
            create_time=job.create_time,
            state=state,
        )
        if state not in (TaskState.PENDING, TaskState.NOT_TRIGGERED, TaskState.SKIPPED):
            detail.start_time = started
        if state in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED):
            detail.end_time = finished
        if state == TaskState.FAILED and node.name == record.outcome.task:
            detail.error = {"code": 9, "message": record.outcome.message}
        details.append(detail)
    if root_state in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED):
        details[0].end_time = finished
    return details


def failure_message(record: JobRecord, project: str, number: str) -> str:
    """The job's `error.message` when its outcome is FAILED, in Vertex's wording."""
    if record.outcome.task is None:
        return record.outcome.message
    return (
        f"The DAG failed because some tasks failed. The failed tasks are: "
        f"[{record.outcome.task}].; Job (project_id = {project}, job_id = {record.job_id}) "
        f"is failed due to the above error.; Failed to handle the job: "
        f"{{project_number = {number}, job_id = {record.job_id}}}"
    )


def check_outcome(outcome: Outcome, tasks: list[TaskNode], pipeline: str) -> None:
    """A planned failure must name a task of the pipeline."""
    names = [t.name for t in tasks if not t.is_dag]
    if outcome.task is not None and outcome.task not in names:
        raise ApiError(
            500,
            f"stand-in: the planned failure names task {outcome.task!r}, which pipeline "
            f"{pipeline!r} does not have (its tasks: {', '.join(names)})",
        )
    dags = [t.name for t in tasks if t.is_dag]
    for name in outcome.skipped:
        if name not in dags:
            raise ApiError(
                500,
                f"stand-in: the planned skip names {name!r}, which is not a condition of "
                f"pipeline {pipeline!r} (its conditions and loops: {', '.join(dags)})",
            )


def filter_values(record: JobRecord) -> dict[str, Any]:
    job = record.job
    return {
        "pipeline_name": record.pipeline_name,
        "display_name": job.display_name,
        "pipeline_job_user_id": record.job_id,
        "state": State(job.state).name,
        "create_time": job.create_time,
        "update_time": job.update_time,
        "start_time": job.start_time,
        "end_time": job.end_time,
        "labels": dict(job.labels),
        "template_uri": job.template_uri,
        "template_metadata": {"version": job.template_metadata.version},
        "schedule_name": job.schedule_name,
    }
