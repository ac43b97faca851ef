"""`vtp ui`: the local web UI (read-only) over a vtp home."""

from __future__ import annotations

import argparse

EPILOG = """Pages: runs (filter by pipeline, state, text), each run's graph of steps, logs,
parameters, outputs and evaluation plots; tuning trials; the model registry with each
version's lineage; two runs side by side. Read-only; serves nothing outside the vtp home.
Ctrl-C stops it.

examples:
  vtp ui
  vtp ui --port 9000
"""


def register(sub: argparse._SubParsersAction, home: argparse.ArgumentParser) -> None:
    ui = sub.add_parser(
        "ui",
        parents=[home],
        help="browse runs, plots, trials and models in a local web UI",
        description="Serve a read-only web UI of the local runs, tuning jobs and models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ui.add_argument(
        "--port", type=int, default=8765, help="TCP port (default 8765; 0: any free port)"
    )
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only)",
    )
    ui.set_defaults(handler=_serve)


def _serve(args) -> int:
    from vtp.home import LocalHome
    from vtp.ui.server import serve

    home = LocalHome.resolve(args.config.value("home"))
    return serve(home, host=args.host, port=args.port)
