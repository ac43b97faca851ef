"""`vtp models serve` and `vtp models predict`: try a registered model with Vertex's
prediction contract (online: a local server; batch: a JSON Lines file)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SERVE_EPILOG = """The server speaks Vertex's custom-container prediction contract:
  POST AIP_PREDICT_ROUTE  {"instances": [[value, ...], ...]} -> {"predictions": [...]}
  GET  AIP_HEALTH_ROUTE   200 once the model is loaded
Routes and port are the model's container spec's when it names them, else Vertex's defaults
(/v1/endpoints/local/deployedModels/MODEL_ID[:predict], port 8080). A bad instance gets a 400
naming it. Ctrl-C stops the server.

examples:
  vtp models serve breast-cancer-classifier
  vtp models serve breast-cancer-classifier@champion --port 9000
"""

PREDICT_EPILOG = """FILE holds one instance per line (a JSON list of feature values, in the
model's feature order). The output is laid out as a Vertex batch prediction job's:
  OUT/prediction-<model>-<time>/prediction.results-00000-of-00001       {"instance", "prediction"}
  OUT/prediction-<model>-<time>/prediction.errors_stats-00000-of-00001  {"instance", "error"}
Exit code 1 when some instances were refused (their errors are in the errors file).

example:
  vtp models predict breast-cancer-classifier --instances rows.jsonl
"""


def register(msub: argparse._SubParsersAction, home: argparse.ArgumentParser) -> None:
    serve = msub.add_parser(
        "serve",
        parents=[home],
        help="serve a model locally with Vertex's prediction contract",
        description="Serve a registered model version on this machine, as a Vertex endpoint "
        "would serve it with its prebuilt scikit-learn or XGBoost container.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("name", help="NAME[@alias|@version] (display name, id or resource name)")
    serve.add_argument("--port", type=int, help="AIP_HTTP_PORT (default: the model's, else 8080)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.set_defaults(models_handler=_serve)

    predict = msub.add_parser(
        "predict",
        parents=[home],
        help="batch predictions for a JSON Lines file, laid out as Vertex writes them",
        description="Predict every instance of a JSON Lines file with a registered model "
        "version, writing the output of a Vertex batch prediction job.",
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("name", help="NAME[@alias|@version] (display name, id or resource name)")
    predict.add_argument("--instances", required=True, metavar="FILE", help="JSON Lines file")
    predict.add_argument(
        "--out", metavar="DIR", help="output directory (default: <home>/batch-predictions)"
    )
    predict.set_defaults(models_handler=_predict)


def _servable(args):
    from vtp.home import LocalHome
    from vtp.local.registry import LocalModelRegistry
    from vtp.serving.models import servable

    home = LocalHome.resolve(args.home)
    if not home.registry_db.exists():
        from vtp.errors import VtpError

        raise VtpError(f"no local registry at {home.registry_db} (run a pipeline first)")
    registry = LocalModelRegistry(home.registry_db)
    return home, registry, servable(registry, args.name, home.gcs_root)


def _serve(args) -> int:
    from vtp.serving import server

    home, registry, model = _servable(args)
    if args.port is not None and not 0 < args.port < 65536:
        from vtp.errors import SpecError

        raise SpecError("--port", args.port, "must be a TCP port, 1 to 65535")
    spec = registry.get(args.name).container_spec or {}
    r = server.routes(model, spec, args.port)
    fw = model.framework
    print(
        f"vtp: serving {model.resource_name} ('{model.display_name}' version "
        f"{model.version_id}) with the {fw.name} {fw.version} predictor of {fw.image}",
        file=sys.stderr,
        flush=True,
    )

    def ready(base: str) -> None:
        print(f"predict  POST {base}{r.predict}", flush=True)
        print(f"health   GET  {base}{r.health}", flush=True)
        print(f"try      {server.example_request(model, base, r)}", flush=True)
        print("Ctrl-C stops the server.", file=sys.stderr, flush=True)

    code = server.serve(
        model,
        r,
        host=args.host,
        work_root=home.root / "serving",
        emit=lambda line: print(line, file=sys.stderr, flush=True),
        on_ready=ready,
    )
    return 0 if code == 0 else 1


def _predict(args) -> int:
    from vtp.serving.batch import batch_predict

    home, _, model = _servable(args)
    out = Path(args.out) if args.out else home.root / "batch-predictions"
    result = batch_predict(model, Path(args.instances), out)
    print(f"model       {model.resource_name} ('{model.display_name}' version {model.version_id})")
    print(f"predicted   {result.predicted}")
    print(f"refused     {result.failed}")
    print(f"results     {result.results}")
    print(f"errors      {result.errors}")
    return 0 if result.failed == 0 else 1
