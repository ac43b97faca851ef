"""The scheduler: a compiled pipeline's DAGs run as Vertex AI Pipelines runs them.

One thread (the caller's) owns the state: it decides which tasks are ready, evaluates their
trigger conditions, expands DAG tasks (conditions, exit handlers, nested pipelines) and
`ParallelFor` loops into scopes, and records every change. Steps run in a pool of worker
threads, at most `parallelism` at once (and at most a loop's `parallelism` iterations at once);
a worker only runs its step and posts the outcome back.

Semantics:
- a task runs when every task it depends on has ended; if one of them failed (or was not
  run because of a failure), it is NOT_TRIGGERED, unless its trigger strategy is
  ALL_UPSTREAM_TASKS_COMPLETED (an exit handler's task, `.ignore_upstream_failure()`);
- a failure fails the run but does not stop independent tasks (Vertex's default failure
  policy, "fail slow"); `fail_fast` stops scheduling new tasks after the first failure;
- a condition that is false SKIPS the task (a skipped task counts as ended for its
  dependants); one that cannot be evaluated FAILS it, with the reason;
- a retry policy re-runs a failed step after its backoff; cancellation (signals) stops every
  running step and marks what did not end CANCELLED.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from vtp.errors import VtpError
from vtp.local.orchestrator import records as rec
from vtp.local.orchestrator.cache import StepCache, cache_key
from vtp.local.orchestrator.conditions import ConditionError
from vtp.local.orchestrator.executor_io import (
    Outputs,
    TaskPaths,
    executor_input,
    read_outputs,
    typed,
    with_defaults,
)
from vtp.local.orchestrator.executors import (
    ImporterExecutor,
    StepCancelled,
    StepContext,
)
from vtp.local.orchestrator.failures import cause_line
from vtp.local.orchestrator.inputs import InputError, Produced, dag_outputs, resolve_inputs
from vtp.local.orchestrator.ir import Component, TaskSpec
from vtp.local.orchestrator.placeholders import PipelineContext, fill_values
from vtp.local.orchestrator.plan import Plan
from vtp.local.orchestrator.progress import ProgressOut
from vtp.local.orchestrator.tasklog import RunLog, TaskLog, clip

SAVE_EVERY_S = 0.25
#: Lines of a failed step's output kept for the run's summary.
TAIL_SHOWN = 12


@dataclass
class Options:
    """How a run runs."""

    parallelism: int
    cache: bool = False
    fail_fast: bool = False
    standby: bool = True
    resume: bool = False
    progress: TextIO | None = None
    echo: TextIO | None = None
    cwd: str = "."


@dataclass
class Node:
    """One task instance in a scope."""

    spec: TaskSpec
    scope: Scope
    path: str
    record: rec.TaskRecord
    component: Component
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    outputs: Outputs | None = None
    children: list[Scope] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    started_items: int = 0
    queued: bool = False
    failure_tail: list[str] = field(default_factory=list)
    #: The step's last progress line (`trials done 3 of 8 ...`).
    progress: str = ""

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def is_dag(self) -> bool:
        return self.component.dag is not None

    def produced(self) -> Produced:
        out = self.outputs or Outputs({}, {})
        ok = self.state in rec.OK_STATES
        return Produced(ok, self.state, out.params, out.artifacts, self.record.error)


class Scope:
    """One instance of a DAG: the root, a DAG task's body, or one loop iteration."""

    def __init__(
        self,
        scheduler: Scheduler,
        component: Component,
        params: dict[str, Any],
        artifacts: dict[str, Any],
        prefix: str,
        owner: Node | None,
    ):
        self.component = component
        self.params = params
        self.artifacts = artifacts
        self.prefix = prefix
        self.owner = owner
        self.finished = False
        assert component.dag is not None
        self.nodes: dict[str, Node] = {}
        for name, spec in component.dag.tasks.items():
            path = f"{prefix}{name}"
            target = scheduler.ir.component(spec.component)
            kind = "loop" if spec.iterator else ("dag" if target.dag is not None else "step")
            record = scheduler.task_record(path, spec, kind, owner)
            self.nodes[name] = Node(spec, self, path, record, target)

    def producer(self, name: str) -> Produced:
        node = self.nodes.get(name)
        if node is None:
            return Produced(False, "UNKNOWN", {}, {}, f"no task {name!r}")
        return node.produced()

    def all_done(self) -> bool:
        return all(n.state in rec.DONE_STATES for n in self.nodes.values())


@dataclass
class _Leaf:
    node: Node
    ctx: StepContext
    executor: Any
    key: str = ""
    resumed: bool = False


@dataclass
class _Result:
    state: str
    outputs: Outputs | None = None
    error: str = ""
    source: dict = field(default_factory=dict)
    #: A failure's own line (`failures.cause_line`), the log it is in, the output before it.
    cause: str = ""
    cause_log: str = ""
    tail: list[str] = field(default_factory=list)


class Scheduler:
    """Runs one pipeline run; `run()` returns its final state."""

    def __init__(
        self,
        plan: Plan,
        record: rec.RunRecord,
        *,
        params: dict[str, Any],
        pipeline: PipelineContext,
        options: Options,
        gcs_root: Path,
        cache_root: Path,
        step_env: dict[str, str],
        zygote: Any = None,
        previous: rec.RunRecord | None = None,
    ):
        self.plan = plan
        self.ir = plan.ir
        self.record = record
        self.params = params
        self.pipeline = pipeline
        self.options = options
        self.gcs_root = gcs_root
        self.cache = StepCache(cache_root, self.ir.name) if options.cache else None
        self.cache_root = cache_root
        #: Standby children of the zygote for lightweight steps about to run, by task path
        #: (with the task); the tasks one was asked for.
        self.standbys: dict[str, tuple[Node, Any]] = {}
        self.warmed: set[str] = set()
        self._standby_lock = threading.Lock()
        self.step_env = step_env
        self.zygote = zygote
        self.previous = previous
        self.cancel = threading.Event()
        self.cancel_reason = ""
        self.failed = False
        self.events: queue.Queue = queue.Queue()
        self.ready: list[_Leaf] = []
        self.running: dict[str, _Leaf] = {}
        self.scopes: list[Scope] = []
        self.nodes: dict[str, Node] = {}
        self.event_log = rec.EventLog(record.record_dir / rec.EVENTS_FILE)
        self.run_log = RunLog(record.log_path, options.echo)
        # in place on a terminal, unless step logs stream to it between progress lines (-v)
        self.out = ProgressOut(options.progress, None if options.echo is None else False)
        self.logs: dict[str, TaskLog] = {}
        self._dirty = False
        self._saved = 0.0
        self.write_error: OSError | None = None
        #: The first step that failed: the run's summary leads with its error.
        self.first_failure: Node | None = None
        #: Notices already said in this run (each is said once).
        self.said: set[str] = set()

    # --- records -----------------------------------------------------------------------------

    def task_record(
        self, path: str, spec: TaskSpec, kind: str, owner: Node | None
    ) -> rec.TaskRecord:
        previous = self.previous.tasks.get(path) if self.previous is not None else None
        task = rec.TaskRecord(
            name=path,
            display_name=spec.display_name,
            kind=kind,
            parent=owner.path if owner else "",
        )
        if previous is not None:
            task.resources = list(previous.resources)
        self.record.tasks[path] = task
        self._dirty = True
        return task

    def _save(self, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        if not force and time.monotonic() - self._saved < SAVE_EVERY_S:
            return
        try:
            self.record.save()
        except OSError as err:
            if self.write_error is None:
                self.write_error = err
                self._stop(f"cannot write the run record {self.record.path}: {err}", failure=True)
            return
        self._dirty = False
        self._saved = time.monotonic()

    def _event(self, kind: str, node: Node | None = None, **fields: Any) -> None:
        if node is not None:
            fields = {"task": node.path, "display_name": node.spec.display_name, **fields}
        self.event_log.write(kind, **fields)
        if self.event_log.failed is not None and self.write_error is None:
            self.write_error = self.event_log.failed
            self._stop(f"cannot write the run's events: {self.event_log.failed}", failure=True)
        self._dirty = True
        line = _progress_line(kind, node, fields)
        if line:
            self.out.say(line, node.path if kind == "task_progress" and node else "")

    def _set(self, node: Node, state: str, error: str = "") -> None:
        task = node.record
        task.state = state
        if error:
            task.error = error
        if state == rec.RUNNING and not task.started:
            task.started = rec.now()
            task._t0 = time.monotonic()
        if state in rec.DONE_STATES:
            task.ended = rec.now()
            if task._t0:
                task.seconds = time.monotonic() - task._t0
            if state == rec.FAILED:
                self.failed = True
                if node.component.dag is None and self.first_failure is None:
                    self.first_failure = node
                if self.options.fail_fast:
                    self._stop("fail fast: a task failed", failure=True)
        self._dirty = True

    # --- the loop ----------------------------------------------------------------------------

    def _stop(self, reason: str, failure: bool = False) -> None:
        if not self.cancel.is_set():
            self.cancel_reason = reason
            self.fail_fast_stop = failure
            self.cancel.set()

    def request_cancel(self, reason: str) -> None:
        """Stops the run (from a signal handler): running steps are stopped, nothing new
        starts."""
        self._stop(reason)

    def run(self) -> str:
        """Runs the pipeline; the final state (SUCCEEDED, FAILED or CANCELLED)."""
        self.fail_fast_stop = False
        root = Scope(self, self.ir.root, dict(self.params), {}, "", None)
        self.scopes.append(root)
        workers = ThreadPoolExecutor(self.options.parallelism, thread_name_prefix="vtp-step")
        try:
            while True:
                changed = self._advance()
                self._launch(workers)
                self._warm()
                self._drain_events(block=not changed)
                self._save()
                if not self.running and not self.ready and root.all_done():
                    break
                if self.cancel.is_set() and not self.running:
                    self._cancel_rest()
                    break
        finally:
            workers.shutdown(wait=True)
            with self._standby_lock:
                left, self.standbys = list(self.standbys.values()), {}
            self._end_standbys(left)
        self._drain_events(block=False)
        if self.cancel.is_set() and not self.fail_fast_stop:
            state = rec.CANCELLED
        elif self.failed or self.write_error is not None:
            state = rec.FAILED
        else:
            state = rec.SUCCEEDED
        for log in self.logs.values():
            log.close()
        self.run_log.close()
        return state

    def close(self) -> None:
        self.event_log.close()

    def _advance(self) -> bool:
        changed = False
        for scope in list(self.scopes):
            if scope.finished:
                continue
            for node in list(scope.nodes.values()):
                if node.state == rec.PENDING and not node.queued and not self.cancel.is_set():
                    deps = [scope.nodes[d] for d in node.spec.dependencies]
                    if all(d.state in rec.DONE_STATES for d in deps):
                        self._decide(node, deps)
                        changed = True
                elif node.state == rec.RUNNING and node.is_dag:
                    changed |= self._grow_loop(node)
                    if (
                        node.children
                        and all(c.finished for c in node.children)
                        and (node.started_items >= len(node.items))
                    ):
                        self._finish_dag(node)
                        changed = True
            if scope.all_done():
                scope.finished = True
                changed = True
        return changed

    def _decide(self, node: Node, deps: list[Node]) -> None:
        spec = node.spec
        failed = [d for d in deps if d.state in (rec.FAILED, rec.NOT_TRIGGERED, rec.CANCELLED)]
        if failed and not spec.all_upstream_completed:
            self._set(node, rec.NOT_TRIGGERED, f"upstream task {failed[0].path!r} did not succeed")
            self._event("task_not_triggered", node, upstream=failed[0].path)
            return
        scope = node.scope
        interface = node.component.interface
        try:
            params, artifacts = resolve_inputs(
                spec.inputs,
                scope_params=scope.params,
                scope_artifacts=scope.artifacts,
                producer=scope.producer,
                final_status=lambda name: self._final_status(scope, name),
                optional=lambda name: _optional(interface, name),
            )
        except InputError as err:
            self._fail_early(node, str(err))
            return
        params = {
            k: typed(interface.params[k].type, v) if k in interface.params else v
            for k, v in params.items()
        }
        node.params, node.artifacts = params, artifacts
        node.record.inputs = {"parameters": params, "artifacts": artifacts}
        if spec.condition is not None:
            try:
                taken = spec.condition.evaluate(params)
            except ConditionError as err:
                self._fail_early(
                    node, f"trigger condition {spec.condition.text!r} cannot be evaluated: {err}"
                )
                return
            if not taken:
                self._set(node, rec.SKIPPED)
                self._event("task_skipped", node, condition=spec.condition.text)
                return
        if spec.iterator is not None:
            self._set(node, rec.RUNNING)
            self._start_loop(node)
        elif node.is_dag:
            self._set(node, rec.RUNNING)
            self._event("dag_started", node)
            node.started_items = 0
            prefix = node.scope.prefix if _is_group(node) else node.path + "/"
            node.children.append(self._scope(node, params, artifacts, prefix))
        else:
            self._prepare_leaf(node)

    def _fail_early(self, node: Node, error: str) -> None:
        self._set(node, rec.FAILED, error)
        self._event("task_failed", node, error=error)

    def _scope(self, owner: Node, params: dict, artifacts: dict, prefix: str) -> Scope:
        component = owner.component
        full = dict(params)
        for name, spec in component.interface.params.items():
            if name not in full and spec.has_default:
                full[name] = typed(spec.type, spec.default)
        scope = Scope(self, component, full, dict(artifacts), prefix, owner)
        self.scopes.append(scope)
        return scope

    def _start_loop(self, node: Node) -> None:
        it = node.spec.iterator
        assert it is not None
        try:
            if it.kind == "parameter":
                items = json.loads(it.raw) if it.raw is not None else node.params[it.input_name]
                if isinstance(items, str):
                    items = json.loads(items)
            else:
                items = node.artifacts[it.input_name]
        except (KeyError, ValueError) as err:
            self._fail_early(node, f"the ParallelFor items cannot be read: {err}")
            return
        if not isinstance(items, list):
            self._fail_early(node, f"ParallelFor needs a list of items, got {items!r}")
            return
        node.items = items
        node.started_items = 0
        self._event("loop_started", node, iterations=len(items), parallelism=it.parallelism)
        if not items:
            self._finish_dag(node)

    def _grow_loop(self, node: Node) -> bool:
        it = node.spec.iterator
        if it is None or self.cancel.is_set():
            return False
        active = sum(1 for c in node.children if not c.finished)
        grew = False
        while node.started_items < len(node.items) and (
            not it.parallelism or active < it.parallelism
        ):
            i = node.started_items
            item = node.items[i]
            params, artifacts = dict(node.params), dict(node.artifacts)
            if it.kind == "parameter":
                params[it.item_input] = item
            else:
                artifacts[it.item_input] = item
            node.children.append(self._scope(node, params, artifacts, f"{node.path}[{i}]/"))
            node.started_items += 1
            active += 1
            grew = True
        return grew

    def _finish_dag(self, node: Node) -> None:
        dag = node.component.dag
        assert dag is not None
        states = [n.state for c in node.children for n in c.nodes.values()]
        if rec.CANCELLED in states:
            self._set(node, rec.CANCELLED)
            self._event("task_cancelled", node)
            return
        if rec.FAILED in states or rec.NOT_TRIGGERED in states:
            self._set(node, rec.FAILED, "a task inside failed")
            self._event("dag_failed", node)
            return
        try:
            if node.spec.iterator is not None:
                params: dict[str, list] = {n: [] for n in dag.outputs.get("parameters", {})}
                artifacts: dict[str, list] = {n: [] for n in dag.outputs.get("artifacts", {})}
                for child in node.children:
                    p, a = dag_outputs(dag.outputs, child.producer)
                    for name, value in p.items():
                        params[name].append(value)
                    for name, value in a.items():
                        artifacts[name].append(value)
                node.outputs = Outputs(params, artifacts)
            else:
                p, a = dag_outputs(dag.outputs, node.children[0].producer)
                node.outputs = Outputs(p, a)
        except InputError as err:
            self._fail_early(node, str(err))
            return
        node.record.outputs = _flat(node.outputs)
        self._set(node, rec.SUCCEEDED)
        self._event("dag_succeeded", node)

    def _final_status(self, scope: Scope, producer: str) -> dict:
        node = scope.nodes[producer]
        state = {rec.SUCCEEDED: "SUCCEEDED", rec.CACHED: "SUCCEEDED"}.get(node.state, node.state)
        if state in (rec.NOT_TRIGGERED, rec.SKIPPED):
            state = "FAILED" if node.state == rec.NOT_TRIGGERED else "SUCCEEDED"
        status: dict[str, Any] = {
            "state": state,
            "pipelineJobResourceName": self.pipeline.job_resource_name,
            "pipelineTaskName": producer,
        }
        if state != "SUCCEEDED":
            status["error"] = {"message": node.record.error or f"task {producer} {state.lower()}"}
        return status

    def _cancel_rest(self) -> None:
        self.ready.clear()
        for scope in self.scopes:
            for node in scope.nodes.values():
                if node.state not in rec.DONE_STATES:
                    self._set(node, rec.CANCELLED)
                    self._event("task_cancelled", node)

    # --- steps -------------------------------------------------------------------------------

    def _paths(self, node: Node) -> TaskPaths:
        name = rec.safe_name(node.path)
        root = f"{self.pipeline.pipeline_root}/{self.record.run_id}/{name}"
        local = self.gcs_root / root[len("gs://") :]
        return TaskPaths(artifact_root=root, file_root=local)

    def _prepare_leaf(self, node: Node) -> None:
        paths = self._paths(node)
        task_uuid = str(uuid.uuid4())
        values = self.pipeline.values(node.spec.name, task_uuid)
        try:
            params = fill_values(with_defaults(node.component.interface, node.params), values)
        except VtpError as err:
            self._fail_early(node, str(err))
            return
        ex_input = executor_input(node.component.interface, params, node.artifacts, paths)
        executor = self.plan.executors[node.component.executor_label or ""]
        log_path = self.record.record_dir / "logs" / f"{rec.safe_name(node.path)}.log"
        log = TaskLog(log_path, node.path, self.run_log)
        self.logs[node.path] = log
        node.record.log = str(log_path)
        node.record.inputs = {"parameters": params, "artifacts": node.artifacts}
        ctx = StepContext(
            task=node.path,
            executor_input=ex_input,
            pipeline_values=values,
            paths=paths,
            log=log,
            should_stop=self.cancel.is_set,
            env=self.step_env,
            cwd=self.options.cwd,
            gcs_root=self.gcs_root,
            project=self.pipeline.project,
            location=self.pipeline.location,
            work_dir=self._work_dir(node),
            zygote=self.zygote,
            cache_root=self.cache_root,
            take_standby=lambda path=node.path: self._take_standby(path),
        )
        ctx.note_resource = lambda name, n=node: self.events.put(("resource", n, name))
        ctx.notice = lambda text, n=node: self.events.put(("notice", n, text))
        ctx.progress = lambda text, n=node: self.events.put(("progress", n, text))
        key = ""
        if (
            self.cache is not None
            and node.spec.cache
            and not isinstance(executor, ImporterExecutor)
        ):
            key = cache_key(
                ex_input,
                node.component.interface,
                self.ir.executor(node.component),
                node.spec.cache_key,
            )
            node.record.cache_key = key
        # A step the interrupted run had started continues like a restarted container: its
        # output files (GCPC's `gcp_resources`) are kept, so a tuning job resumes its study.
        old = self.previous.tasks.get(node.path) if self.previous is not None else None
        resumed = old is not None and bool(old.attempts)
        node.queued = True
        self.ready.append(_Leaf(node, ctx, executor, key, resumed))

    def _warm(self) -> None:
        """Prepares standby children for lightweight steps one step from starting (each
        task they wait for has started, or waits only for started tasks), so that their
        imports overlap the steps running now; at most `parallelism` at once."""
        if not self.options.standby or self.zygote is None or not self.zygote.usable:
            return
        if self.cancel.is_set():
            return
        with self._standby_lock:  # skipped, not triggered, cached, kept by --resume, cancelled
            ended = [p for p, (n, _) in self.standbys.items() if n.state in rec.DONE_STATES]
            dropped = [self.standbys.pop(p) for p in ended]
        self._end_standbys(dropped)
        done = (rec.SUCCEEDED, rec.CACHED, rec.SKIPPED)

        def started(node: Node) -> bool:  # a DAG or loop may run long: only once it is done
            return node.state in done or (node.state == rec.RUNNING and not node.is_dag)

        for scope in self.scopes:
            if scope.finished:
                continue
            for node in scope.nodes.values():
                if len(self.standbys) >= self.options.parallelism:
                    return
                if node.state != rec.PENDING or node.queued or node.is_dag:
                    continue
                if node.path in self.warmed:  # once per task, taken or not
                    continue
                executor = self.plan.executors.get(node.component.executor_label or "")
                if not hasattr(executor, "prepare"):
                    continue
                deps = [scope.nodes[d] for d in node.spec.dependencies]
                near = all(
                    started(d)
                    or (
                        d.state == rec.PENDING
                        and all(started(scope.nodes[x]) for x in d.spec.dependencies)
                    )
                    for d in deps
                )
                if not near:
                    continue
                self.warmed.add(node.path)
                standby = executor.prepare(
                    self.zygote,
                    env=self.step_env,
                    cwd=self.options.cwd,
                    work_dir=self._work_dir(node),
                    cache_root=self.cache_root,
                )
                if standby is not None:
                    with self._standby_lock:
                        self.standbys[node.path] = (node, standby)
                    self._event("standby_started", node, pid=standby.pid)

    def _end_standbys(self, pairs: list[tuple[Node, Any]]) -> None:
        for node, standby in pairs:
            self.zygote.discard(standby)
            self._event("standby_ended", node, pid=standby.pid)

    def _work_dir(self, node: Node) -> Path:
        return self.record.record_dir / "work" / rec.safe_name(node.path)

    def _take_standby(self, path: str) -> Any:
        """The standby made for the task at `path` (once), None if there is none."""
        with self._standby_lock:
            return self.standbys.pop(path, (None, None))[1]

    def _launch(self, workers: ThreadPoolExecutor) -> None:
        while self.ready and len(self.running) < self.options.parallelism:
            if self.cancel.is_set():
                return
            leaf = self.ready.pop(0)
            previous = self._previous_outputs(leaf.node)
            if previous is not None:
                self._complete(
                    leaf.node, _Result(rec.SUCCEEDED, previous, source={"resumed": True})
                )
                continue
            self.running[leaf.node.path] = leaf
            self._set(leaf.node, rec.RUNNING)
            self._event("task_started", leaf.node, executor=leaf.executor.describe())
            future = workers.submit(self._execute, leaf)
            future.add_done_callback(
                lambda f, n=leaf.node: self.events.put(("done", n, _outcome(f)))
            )

    def _previous_outputs(self, node: Node) -> Outputs | None:
        """With --resume, the outputs of a step that had succeeded in the interrupted run."""
        if self.previous is None:
            return None
        old = self.previous.tasks.get(node.path)
        if old is None or old.state not in rec.OK_STATES:
            return None
        interface = node.component.interface
        artifacts = {k: v for k, v in old.outputs.items() if k in interface.out_artifacts}
        params = {k: v for k, v in old.outputs.items() if k in interface.out_params}
        return Outputs(params, artifacts)

    def _drain_events(self, block: bool) -> None:
        try:
            item = self.events.get(timeout=0.1) if block else self.events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._apply(item)
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return

    def _apply(self, item: tuple) -> None:
        kind, node = item[0], item[1]
        if kind == "done":
            self.running.pop(node.path, None)
            self._complete(node, item[2])
        elif kind == "attempt":
            attempt: rec.Attempt = item[2]
            node.record.attempts.append(attempt)
            if attempt.number > 1:
                self._event("attempt_started", node, attempt=attempt.number)
        elif kind == "attempt_end":
            attempt = item[2]
            self._event(
                "attempt_ended",
                node,
                attempt=attempt.number,
                state=attempt.state,
                error=attempt.error,
            )
        elif kind == "retry":
            self._event("task_retrying", node, attempt=item[2], delay=item[3], error=item[4])
        elif kind == "notice" and item[2] not in self.said:
            self.said.add(item[2])
            self._event("notice", node, text=item[2])
        elif kind == "progress" and item[2] != node.progress:
            node.progress = item[2]
            self._event("task_progress", node, text=item[2])
        elif kind == "resource" and item[2] not in node.record.resources:
            node.record.resources.append(item[2])
            self._dirty = True

    def _complete(self, node: Node, result: _Result) -> None:
        if result.outputs is not None:
            node.outputs = result.outputs
            node.record.outputs = _flat(result.outputs)
        if result.source.get("resumed"):
            old = self.previous.tasks[node.path] if self.previous is not None else None
            if old is not None:
                task = node.record
                task.attempts, task.log, task.inputs = old.attempts, old.log, old.inputs
                task.started, task._t0 = old.started, 0.0
            self._set(node, rec.SUCCEEDED)
            if old is not None:
                node.record.ended, node.record.seconds = old.ended, old.seconds
            self._event("task_kept", node)
        elif result.state == rec.CACHED:
            self._set(node, rec.CACHED)
            self._event("task_cached", node, source=result.source)
        elif result.state == rec.SUCCEEDED:
            self._set(node, rec.SUCCEEDED)
            self._event("task_succeeded", node, seconds=round(node.record.seconds, 3))
        elif result.state == rec.CANCELLED:
            self._set(node, rec.CANCELLED, result.error)
            self._event("task_cancelled", node)
        else:
            node.record.cause, node.record.cause_log = result.cause, result.cause_log
            node.failure_tail = result.tail
            self._set(node, rec.FAILED, result.error)
            self._event(
                "task_failed",
                node,
                error=result.error,
                cause=result.cause,
                cause_log=result.cause_log,
                seconds=node.record.seconds,
            )

    def _execute(self, leaf: _Leaf) -> _Result:
        """One step, in a worker thread: the cache, then the attempts."""
        node, ctx = leaf.node, leaf.ctx
        if leaf.key and self.cache is not None:
            hit = self.cache.get(leaf.key, lambda uri: Path(ctx.local_path(uri)).exists())
            if hit is not None:
                ctx.log(f"cache hit {leaf.key[:12]}: outputs of {hit[1].get('run_id', '?')}")
                return _Result(rec.CACHED, hit[0], source=hit[1])
        retry = node.spec.retry
        attempts = 1 + (retry.max_retries if retry else 0)
        error, cause, cause_log, tail = "", "", "", []
        for n in range(attempts):
            if self.cancel.is_set():
                return _Result(rec.CANCELLED, error="the run was cancelled")
            if n > 0 or not leaf.resumed:
                _clear_outputs(ctx.paths)
            _make_output_dirs(ctx)
            attempt = rec.Attempt(n + 1, rec.now())
            self.events.put(("attempt", node, attempt))
            try:
                produced = leaf.executor.run(ctx)
                outputs = produced or read_outputs(
                    node.component.interface,
                    ctx.executor_input,
                    project=ctx.project,
                    location=ctx.location,
                    gcs_root=ctx.gcs_root,
                )
            except StepCancelled as err:
                attempt.ended, attempt.state, attempt.error = rec.now(), rec.CANCELLED, str(err)
                self.events.put(("attempt_end", node, attempt))
                return _Result(rec.CANCELLED, error=str(err))
            except VtpError as err:
                error = str(err)
                cause_log = getattr(err, "log_path", "") or str(ctx.log.path)
                cause = getattr(err, "cause", "")
                tail = ctx.log.tail()
            except Exception as err:  # a bug or an unexpected failure: the log has the trace
                cause = ""
                tail = [*ctx.log.tail(), f"{type(err).__name__}: {err}"]
                ctx.log(traceback.format_exc())
                error = f"{type(err).__name__}: {err}"
                cause_log = str(ctx.log.path)
            else:
                attempt.ended, attempt.state = rec.now(), rec.SUCCEEDED
                self.events.put(("attempt_end", node, attempt))
                if leaf.key and self.cache is not None:
                    self.cache.put(
                        leaf.key, outputs, {"run_id": self.record.run_id, "task": node.path}
                    )
                return _Result(rec.SUCCEEDED, outputs)
            cause = cause or cause_line(tail, error)
            ctx.log(f"error: {error}")
            attempt.ended, attempt.state, attempt.error = rec.now(), rec.FAILED, error
            self.events.put(("attempt_end", node, attempt))
            if self.cancel.is_set():
                return _Result(rec.CANCELLED, error=error)
            if n + 1 < attempts and retry is not None:
                delay = retry.delay(n)
                self.events.put(("retry", node, n + 2, delay, error.splitlines()[0]))
                if self.cancel.wait(delay):
                    return _Result(rec.CANCELLED, error=error)
        return _Result(
            rec.FAILED, error=error, cause=cause, cause_log=cause_log, tail=tail[-TAIL_SHOWN:]
        )

    def failure_tail(self) -> list[str]:
        """The last lines the failed step's program wrote before it failed."""
        node = self.first_failure
        if node is None:
            return []
        if node.failure_tail:
            return list(node.failure_tail)
        log = self.logs.get(node.path)
        return log.tail()[-TAIL_SHOWN:] if log is not None else []


def _outcome(future) -> _Result:
    try:
        return future.result()
    except BaseException as err:  # pragma: no cover - _execute catches everything it can
        return _Result(rec.FAILED, error=f"{type(err).__name__}: {err}")


_GROUP = re.compile(r"^(condition|condition-branches|exit-handler)-\d+$")


def _is_group(node: Node) -> bool:
    """A DAG the compiler made for a `dsl.If`/`Elif`/`Else` or an `ExitHandler`: the names of
    its tasks are unique in their pipeline, so they keep them (a nested pipeline's and a loop
    iteration's tasks are named under the task that runs them)."""
    return bool(_GROUP.match(node.spec.name))


def _optional(interface, name: str) -> bool:
    spec = interface.params.get(name) or interface.artifacts.get(name)
    return spec is not None and (getattr(spec, "optional", False))


def _clear_outputs(paths: TaskPaths) -> None:
    import shutil

    with contextlib.suppress(OSError):
        shutil.rmtree(paths.file_root / "outputs")
    with contextlib.suppress(OSError):
        Path(paths.executor_output).unlink()


def _make_output_dirs(ctx: StepContext) -> None:
    """The directories of the output files and artifacts, as KFP's launcher makes them
    before the program starts."""
    outputs = ctx.executor_input.get("outputs", {})
    for spec in (outputs.get("parameters") or {}).values():
        Path(spec["outputFile"]).parent.mkdir(parents=True, exist_ok=True)
    for listed in (outputs.get("artifacts") or {}).values():
        for artifact in listed.get("artifacts", []):
            Path(ctx.local_path(artifact["uri"])).parent.mkdir(parents=True, exist_ok=True)
    Path(outputs["outputFile"]).parent.mkdir(parents=True, exist_ok=True)


def _flat(outputs: Outputs) -> dict[str, Any]:
    """Outputs as the run record keeps them: parameters and artifacts by name."""
    return {**outputs.params, **outputs.artifacts}


def _progress_line(kind: str, node: Node | None, fields: dict) -> str:
    if node is None:
        return ""
    name = node.path
    if node.spec.display_name not in (node.spec.name, ""):
        name += f" [{node.spec.display_name}]"
    seconds = node.record.seconds
    if kind == "task_started":
        return f"  ...  {name}"
    if kind == "task_succeeded":
        return f"  ok   {name}  ({seconds:.1f} s)"
    if kind == "task_cached":
        return f"  ok   {name}  (cached)"
    if kind == "task_kept":
        return f"  ok   {name}  (kept from the interrupted run)"
    if kind == "task_failed":
        first = (fields.get("error") or "").splitlines()[:1]
        said = fields.get("cause") or (first[0] if first else "")
        return f"  FAIL  {name}  ({seconds:.1f} s): {clip(said, 300)}"
    if kind == "task_skipped":
        return f"  skip {name}  (condition false)"
    if kind == "task_not_triggered":
        return f"  --   {name}  (not run: {fields.get('upstream')} did not succeed)"
    if kind == "task_cancelled" and not node.is_dag:
        return f"  stop {name}  (cancelled)"
    if kind == "notice":
        return f"  note: {fields['text']}"
    if kind == "task_progress":
        return f"  ...  {name}: {fields['text']}"
    if kind == "task_retrying":
        return (
            f"  retry {name}: attempt {fields['attempt']} in {fields['delay']:.1f} s "
            f"({clip(fields.get('error', ''), 200)})"
        )
    if kind == "loop_started":
        return f"  loop {name}: {fields['iterations']} iteration(s)"
    if kind == "dag_failed" and node.spec.iterator is None and not node.spec.condition:
        return ""
    return ""


__all__ = ["Options", "Scheduler"]
