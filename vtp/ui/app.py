"""The web UI: a Starlette application over one vtp home, read-only.

Pages are rendered on the server (Jinja2 templates, SVG plots drawn in Python): no script, no
build step, no asset from elsewhere. Every route is GET (HEAD); anything else is 405. A file
is served only from inside the home (resolved, symlinks followed), and as text unless it is
HTML or SVG, which are served under a sandboxing Content-Security-Policy.
"""

from __future__ import annotations

import json
import mimetypes
import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from vtp.home import LocalHome
from vtp.local.history import evaluations
from vtp.local.history.files import OutsideHome, inside
from vtp.local.history.models import Models
from vtp.local.history.runs import NotFound, Runs, RunView, StepView
from vtp.local.history.tuning import TuningJobs
from vtp.ui import charts, dag

#: Pages forbid scripts, frames and any origin but this one.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Files of the home shown as they are (an HTML report, an SVG): a sandbox, no script.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
LOG_LINES = 400
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
STATES = ("SUCCEEDED", "FAILED", "RUNNING", "CANCELLED", "PENDING")
_TEXT_TYPES = {".log", ".json", ".jsonl", ".yaml", ".yml", ".txt", ".md", ".csv", ".py"}


def _templates() -> Environment:
    folder = resources.files("vtp.ui") / "templates"
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=_duration,
        when=lambda t: t[:19].replace("T", " ") if t else "",
        num=_num,
        pretty=lambda v: json.dumps(v, indent=2, default=str, sort_keys=True),
        q=lambda v: urllib.parse.quote(str(v), safe=""),
        qpath=lambda v: urllib.parse.quote(str(v), safe="/"),
        statecls=lambda s: str(s).lower().replace("_", "-"),
    )
    return env


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class UI:
    """Routes and page rendering for one home."""

    def __init__(self, home: LocalHome):
        self.home = home
        self.runs = Runs(home)
        self.jobs = TuningJobs(home)
        self.models = Models(home)
        self.env = _templates()

    # --- helpers -------------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(home=str(self.home.root), **context)
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": PAGE_CSP})

    def file_link(self, uri: str) -> str | None:
        """The `/files/...` URL of an artifact URI or a local path in the home, if it exists."""
        if not isinstance(uri, str):
            return None
        if uri.startswith("gs://"):
            local = self.home.gcs_root / uri[len("gs://") :]
        elif uri.startswith("/"):
            local = Path(uri)
        else:
            return None
        try:
            resolved = inside(self.home.root, local)
        except OutsideHome:
            return None
        if not resolved.exists():
            return None
        rel = resolved.relative_to(self.home.root.resolve())
        return "/files/" + urllib.parse.quote(str(rel))

    def step_url(self, run_id: str, step: StepView) -> str:
        return f"/runs/{urllib.parse.quote(run_id)}/steps/{urllib.parse.quote(step.path, safe='')}"

    def model_url(self, resource_name: str) -> str:
        tail_part = resource_name.rsplit("/", 1)[-1]
        model_id, _, version = tail_part.partition("@")
        url = f"/models/{urllib.parse.quote(model_id)}"
        return f"{url}/versions/{urllib.parse.quote(version)}" if version else url

    def plots(self, evaluation: evaluations.Evaluation) -> list[Markup]:
        out = []
        if evaluation.classes and evaluation.confusion:
            out.append(Markup(charts.confusion_matrix(evaluation.classes, evaluation.confusion)))
        if evaluation.roc:
            out.append(Markup(charts.roc_curve(evaluation.roc, evaluation.scalars.get("auc"))))
        for name, auc, points in evaluation.roc_one_vs_rest:
            out.append(Markup(charts.roc_curve(points, auc, against=f"class {name} vs rest")))
        if evaluation.actual:
            out.append(Markup(charts.predicted_vs_actual(evaluation.actual, evaluation.predicted)))
            out.append(Markup(charts.residuals(evaluation.actual, evaluation.predicted)))
            out.append(Markup(charts.residual_histogram(evaluation.actual, evaluation.predicted)))
        return out

    def run_context(self, run: RunView) -> dict[str, Any]:
        evals = evaluations.of_run(run)
        return {
            "run": run,
            "refresh": 5 if run.state in ("RUNNING", "PENDING") else 0,
            "graph": Markup(dag.render(run.steps, lambda s: self.step_url(run.run_id, s))),
            "evaluations": [(e, self.plots(e)) for e in evals],
            "step_url": lambda s: self.step_url(run.run_id, s),
            "model_url": self.model_url,
            "tuning_jobs": run.tuning_jobs,
        }

    # --- pages ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return RedirectResponse("/runs", status_code=303)

    async def run_list(self, request: Request) -> Response:
        q = request.query_params
        pipeline, state, text = q.get("pipeline") or None, q.get("state") or None, q.get("q")
        runs = self.runs.list(pipeline=pipeline, state=state, text=text or None)
        return self.page(
            "runs.html",
            runs=runs,
            pipelines=self.runs.pipelines(),
            states=STATES,
            pipeline=pipeline or "",
            state=(state or "").upper(),
            text=text or "",
            model_url=self.model_url,
        )

    async def run_page(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["run_id"])
        return self.page("run.html", **self.run_context(run))

    async def step_page(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["run_id"])
        step = run.step(request.path_params["step"])
        evaluation = evaluations.of_step(step)
        links = {}
        for group in (step.inputs.get("artifacts") or {}, step.outputs):
            for value in group.values():
                if isinstance(value, dict) and "uri" in value:
                    links[value["uri"]] = self.file_link(value["uri"])
        return self.page(
            "step.html",
            run=run,
            step=step,
            log_lines=step.log_tail(LOG_LINES),
            log_url=f"/runs/{urllib.parse.quote(run.run_id)}/log?step="
            + urllib.parse.quote(step.path, safe=""),
            evaluation=evaluation,
            plots=self.plots(evaluation) if evaluation else [],
            links=links,
            step_url=lambda s: self.step_url(run.run_id, s),
            model_url=self.model_url,
        )

    async def run_log(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["run_id"])
        name = request.query_params.get("step")
        path = run.step(name).log if name else run.log
        if path is None or not path.is_file():
            raise NotFound(f"no log for {'step ' + repr(name) if name else 'the run'}")
        inside(self.home.root, path)
        return FileResponse(path, media_type="text/plain; charset=utf-8", headers=_file_headers())

    async def tuning_list(self, request: Request) -> Response:
        return self.page("tuning_list.html", jobs=self.jobs.list())

    async def tuning_page(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["job_id"])
        report = job.report()
        plots: list[Markup] = []
        if report is not None and report.rows:
            from vtp.components.tuning.report import parameter_plot, trial_plot

            columns = [(p.parameter_id, p.log) for p in report.parameters]
            trials = [
                (
                    row.trial_id,
                    [_param_value(row.parameters.get(c)) for c, _ in columns] + [row.value],
                    row.best,
                )
                for row in report.rows
            ]
            plots.append(
                Markup(charts.parallel_coordinates(columns, trials, report.primary.metric_id))
            )
            plots.append(Markup(trial_plot(report)))
            for parameter in report.parameters:
                svg = parameter_plot(report, parameter)
                if svg:
                    plots.append(Markup(svg))
        run = None
        if job.run_id:
            try:
                run = self.runs.get(job.run_id)
            except NotFound:
                run = None
        return self.page("tuning.html", job=job, report=report, plots=plots, run=run)

    async def model_list(self, request: Request) -> Response:
        return self.page("models.html", models=self.models.list())

    async def model_page(self, request: Request) -> Response:
        model = self.models.get(request.path_params["model_id"])
        lineages = {v.version_id: self.models.lineage(v) for v in model.versions}
        return self.page("model.html", model=model, lineages=lineages)

    async def version_page(self, request: Request) -> Response:
        version = self.models.version(
            request.path_params["model_id"], request.path_params["version"]
        )
        lineage = self.models.lineage(version)
        plots = self.plots(lineage.evaluation) if lineage.evaluation else []
        return self.page(
            "version.html",
            version=version,
            lineage=lineage,
            plots=plots,
            file_link=self.file_link,
            step_url=(lambda s: self.step_url(lineage.run.run_id, s)) if lineage.run else None,
        )

    async def compare(self, request: Request) -> Response:
        q = request.query_params
        ids = [q.get("a", ""), q.get("b", "")]
        recent = self.runs.list(limit=50)
        if not all(ids):
            return self.page("compare_pick.html", runs=recent, a=ids[0], b=ids[1])
        runs = [self.runs.get(i) for i in ids]
        sides = []
        for run in runs:
            evals = evaluations.of_run(run)
            sides.append(
                {
                    "run": run,
                    "evaluation": evals[0] if evals else None,
                    "plots": self.plots(evals[0]) if evals else [],
                }
            )
        params = sorted(set(runs[0].params) | set(runs[1].params))
        metrics = sorted(set(runs[0].metrics) | set(runs[1].metrics))
        return self.page(
            "compare.html",
            sides=sides,
            params=params,
            metrics=metrics,
            model_url=self.model_url,
            json=lambda v: json.dumps(v, default=str) if not isinstance(v, str) else v,
        )

    async def files(self, request: Request) -> Response:
        raw = request.path_params.get("path", "")
        try:
            path = inside(self.home.root, raw)
        except OutsideHome as err:
            raise NotFound(str(err)) from None
        if path.is_dir():
            entries = sorted(path.iterdir(), key=lambda p: (not p.is_dir(), p.name))
            base = path.relative_to(self.home.root.resolve())
            rows = []
            for entry in entries:
                try:
                    inside(self.home.root, entry)
                except OutsideHome:
                    continue  # a symlink leading out of the home is not listed
                rows.append(
                    {
                        "name": entry.name + ("/" if entry.is_dir() else ""),
                        "url": "/files/" + urllib.parse.quote(str(base / entry.name)),
                        "size": entry.stat().st_size if entry.is_file() else None,
                    }
                )
            parent = None if base == Path(".") else "/files/" + urllib.parse.quote(str(base.parent))
            return self.page("files.html", path=str(base), rows=rows, parent=parent)
        if not path.is_file():
            raise NotFound(f"no file {raw!r} in the vtp home")
        media = _media_type(path)
        return FileResponse(path, media_type=media, headers=_file_headers())


def _param_value(value: Any) -> float | str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _media_type(path: Path) -> str:
    if path.suffix in _TEXT_TYPES or path.name in ("report", "report_markdown"):
        if path.name == "report":
            return "text/html; charset=utf-8"  # the trials report (self-contained HTML)
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed in ("text/html", "image/svg+xml"):
        return guessed + ("; charset=utf-8" if guessed == "text/html" else "")
    if guessed and guessed.startswith(("image/", "text/")):
        return "text/plain; charset=utf-8" if guessed.startswith("text/") else guessed
    return _sniff(path)


def _sniff(path: Path) -> str:
    """Text files as text/plain, anything else as a download."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        head.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return "application/octet-stream"
    return "application/octet-stream" if b"\0" in head else "text/plain; charset=utf-8"


def _file_headers() -> dict[str, str]:
    return {"Content-Security-Policy": FILE_CSP, "X-Content-Type-Options": "nosniff"}


class HostCheck:
    """Refuses a request whose Host header names another site (DNS rebinding), with IPv6
    literals read as RFC 3986 writes them (`[::1]:8765`), which Starlette's
    TrustedHostMiddleware splits at the first colon."""

    def __init__(self, app, allowed_hosts: list[str]):
        self.app = app
        self.any = "*" in allowed_hosts
        self.allowed = {h.strip("[]").lower() for h in allowed_hosts}

    @staticmethod
    def hostname(header: str) -> str:
        try:
            return urllib.parse.urlsplit(f"//{header}").hostname or ""
        except ValueError:
            return ""

    async def __call__(self, scope, receive, send) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if self.hostname(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)


def create_app(home: LocalHome, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The application serving `home`. `allowed_hosts`: the Host header values accepted
    (default: loopback names), so a page elsewhere cannot reach it through DNS rebinding."""
    ui = UI(home)

    async def not_found(request: Request, exc: Exception) -> Response:
        message = str(exc) if isinstance(exc, NotFound) else "no such page"
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return Response(exc.detail, status_code=exc.status_code, headers=exc.headers)
        return ui.page("404.html", status=404, message=message, path=request.url.path)

    routes = [
        Route("/", ui.index),
        Route("/runs", ui.run_list),
        Route("/runs/{run_id}", ui.run_page),
        Route("/runs/{run_id}/steps/{step:path}", ui.step_page),
        Route("/runs/{run_id}/log", ui.run_log),
        Route("/tuning", ui.tuning_list),
        Route("/tuning/{job_id}", ui.tuning_page),
        Route("/models", ui.model_list),
        Route("/models/{model_id}", ui.model_page),
        Route("/models/{model_id}/versions/{version}", ui.version_page),
        Route("/compare", ui.compare),
        Route("/files", ui.files),
        Route("/files/{path:path}", ui.files),
    ]
    hosts = allowed_hosts or LOOPBACK_HOSTS
    return Starlette(
        routes=routes,
        exception_handlers={NotFound: not_found, 404: not_found, HTTPException: not_found},
        middleware=[Middleware(HostCheck, allowed_hosts=hosts)],
    )
