"""`vtp runs list|show`: the local runs, and one run's steps."""

from __future__ import annotations

import argparse

LIST_EPILOG = """examples:
  vtp runs list
  vtp runs list --pipeline tuning --state failed --limit 5
"""

SHOW_EPILOG = """RUN is a run id (`vtp runs list`), or `last` for the newest run.

examples:
  vtp runs show last
  vtp runs show training-20261204-184941-e67042
"""

#: Lines of a failed step's log shown by `vtp runs show`.
FAILED_LOG_LINES = 12


def register(sub: argparse._SubParsersAction, home: argparse.ArgumentParser) -> None:
    runs = sub.add_parser(
        "runs", help="local runs: state, duration, metrics, model; one run's steps"
    )
    rsub = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    ls = rsub.add_parser(
        "list",
        parents=[home],
        help="local runs, newest first",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument("--pipeline", metavar="P", help="only runs of pipeline P")
    ls.add_argument(
        "--state",
        metavar="S",
        help="only runs in state S (succeeded, failed, running, cancelled)",
    )
    ls.add_argument("--limit", metavar="N", type=_positive, help="at most N runs")
    ls.set_defaults(handler=_list)
    show = rsub.add_parser(
        "show",
        parents=[home],
        help="one run: parameters, metrics, model and its steps",
        epilog=SHOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("run", metavar="RUN", help="run id, or `last`")
    show.set_defaults(handler=_show)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")


def _home(args):
    from vtp.home import LocalHome
    from vtp.local.recovery import recover

    home = LocalHome.resolve(args.config.value("home"))
    recover(home)
    return home


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _when(text: str) -> str:
    return text[:19].replace("T", " ") if text else ""


def _model_text(names: list[str]) -> str:
    return ", ".join(n.rsplit("/", 1)[-1] for n in names)


def _list(args) -> int:
    from vtp.cli.text_table import table
    from vtp.errors import SpecError
    from vtp.local.history.runs import Runs

    if args.state and args.state.upper() not in STATES:
        raise SpecError("--state", args.state, f"must be one of {', '.join(STATES).lower()}")
    home = _home(args)
    runs = Runs(home).list(pipeline=args.pipeline, state=args.state, limit=args.limit)
    if not runs:
        print(f"No local runs in {home.runs}" + (" match." if args.pipeline or args.state else "."))
        return 0
    header = ("RUN", "STATE", "STARTED (UTC)", "DURATION", "METRICS", "MODEL")
    rows = [
        (
            r.run_id,
            r.state,
            _when(r.started or r.created),
            _duration(r.seconds),
            r.summary_metrics(3),
            _model_text(r.model_versions),
        )
        for r in runs
    ]
    print(table(header, rows))
    return 0


def _params_text(params: dict) -> list[str]:
    import json

    width = max((len(k) for k in params), default=0)
    out = []
    for k, v in sorted(params.items()):
        text = v if isinstance(v, str) else json.dumps(v)
        text = text if len(text) <= 100 else text[:99] + "…"
        out.append(f"  {k.ljust(width)}  {text}".rstrip())
    return out


def _show(args) -> int:
    from vtp.cli.text_table import table
    from vtp.local.history.runs import Runs

    home = _home(args)
    runs = Runs(home)
    run_id = args.run
    if run_id == "last":
        newest = runs.list(limit=1)
        if not newest:
            print(f"No local runs in {home.runs}.")
            return 0
        run_id = newest[0].run_id
    run = runs.get(run_id)
    out = [
        f"run       {run.run_id}",
        f"pipeline  {run.pipeline}  ({run.pipeline_file})",
        f"state     {run.state}"
        + ("  (recorded RUNNING; its vtp process is gone)" if run.abandoned else ""),
        f"started   {_when(run.started or run.created)} UTC, {_duration(run.seconds)}",
    ]
    if run.metrics:
        out.append("metrics   " + ", ".join(f"{k}={v:.4g}" for k, v in run.metrics.items()))
    for name in run.model_versions:
        out.append(f"model     {name}")
    for job in run.tuning_jobs:
        out.append(f"tuning    {job}  (vtp tuning trials {job})")
    if run.error:
        out.append(f"error     {run.error.splitlines()[0]}")
    out.append(f"log       {run.log}")
    out.append("parameters")
    out += _params_text(run.params)
    out.append("")
    rows = []
    for s in run.steps:
        indent = "  " * _depth(run, s)
        rows.append(
            (
                indent + s.label,
                s.state,
                _duration(s.seconds) if s.started else "",
                _outputs_text(s),
            )
        )
    out.append(table(("STEP", "STATE", "DURATION", "OUTPUTS"), rows))
    for s in run.failed_steps:
        out.append("")
        out.append(f"{s.label} failed: {s.error.splitlines()[0] if s.error else ''}".rstrip())
        if s.log:
            out.append(f"  log {s.log}")
            out += [f"    {line}" for line in s.log_tail(FAILED_LOG_LINES)]
    print("\n".join(out))
    return 0


def _depth(run, step) -> int:
    depth, parent, seen = 0, step.parent, set()
    by_path = {s.path: s for s in run.steps}
    while parent and parent in by_path and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = by_path[parent].parent
    return depth


def _outputs_text(step, width: int = 100) -> str:
    parts = []
    for name, value in step.outputs.items():
        if name == "gcp_resources" or name.startswith("pipelinechannel--"):
            continue
        if isinstance(value, dict) and "uri" in value:
            parts.append(f"{name}={value['uri']}")
        else:
            text = value if isinstance(value, str) else repr(value)
            parts.append(f"{name}={text}")
    text = "  ".join(parts).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
