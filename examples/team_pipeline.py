"""Another team's pipeline built on vtp: train with vtp's pipeline, then score and document.

It imports vtp both ways: the training pipeline and the champion lookup as Python factories
(`from vtp.pipelines import training`, `VERTEX.ChampionLookupOp`), `load_dataset`,
`champion_model` and `evaluate_model` as compiled YAML (`compiled/components/*.yaml`). Two steps
are the team's own: batch scoring, which runs as a Vertex custom job on a GPU machine through
`custom_job_from_component`, and a model card written from the evaluation metrics.

It is written once, for Vertex AI; `run` compiles it and runs the compiled YAML with vtp's local
orchestrator, exactly as `vtp run team.yaml --local` would.

Steps:
    1. `training` (vtp's whole pipeline, nested): train, evaluate, register past the threshold.
    2. `load_dataset` (YAML): the same split of the same data, so `test` holds the rows the
       training pipeline held out.
    3. `ChampionLookupOp`: the registered model's `default` version; the rest only when found.
    4. `champion_model` (YAML): that version's files as an `UnmanagedContainerModel`.
    5. `evaluate_model` (YAML): metrics on the held-out rows.
    6. `score_rows` (the team's, as a custom job on g2-standard-8 + NVIDIA_L4): predictions.
    7. `model_card` (the team's): a Markdown card from the metrics and predictions.

    python examples/team_pipeline.py compile team.yaml        # for Vertex AI
    python examples/team_pipeline.py run --home /tmp/team     # its YAML, run locally
"""

import argparse
import sys
from pathlib import Path

from kfp import components, dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Output

from vtp import defaults as config
from vtp.components.targets import VERTEX
from vtp.home import LocalHome
from vtp.pipelines import training
from vtp.shipped import SAMPLE_DATA_SOURCE

NAME = "team-model-card"
REPO = Path(__file__).resolve().parents[1]
#: vtp's compiled components; a team without vtp's source uses `load_component_from_url` on
#: the same files (e.g. from a release, or the repository's raw URLs).
COMPILED_COMPONENTS = REPO / "compiled" / "components"
#: The team's components need pandas and scikit-learn: vtp's component image holds them.
TEAM_IMAGE = config.COMPONENT_IMAGE
#: The GPU machine the scoring step asks Vertex for (a G2 machine comes with its L4).
SCORING_MACHINE = {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4"}


@dsl.component(base_image=TEAM_IMAGE, install_kfp_package=False)
def score_rows(
    model: Input[Artifact],
    rows: Input[Dataset],
    predictions: Output[Dataset],
    target_column: str = "target",
) -> int:
    """Scores every row with the model; writes the label and a `prediction` column as CSV.

    The body uses vtp's helpers, which the component image holds: `to_local_path` opens a
    `gs://` URI through `/gcs/` on Vertex and through the local mount here.

    Returns:
        The number of rows scored.
    """
    import json
    import os

    from vtp.components.evaluation.metrics import feature_columns, feature_matrix, read_table
    from vtp.components.evaluation.models import load_model
    from vtp.gcs import to_local_path

    loaded = load_model(to_local_path(model.uri))  # as the prebuilt serving container loads it
    frame = read_table(to_local_path(rows.uri))
    features = feature_columns(frame, loaded, target_column, ["id"])
    frame["prediction"] = loaded.predict(feature_matrix(frame, features))
    frame[[target_column, "prediction"]].to_csv(predictions.path, index=False)
    task = json.loads(os.environ.get("CLUSTER_SPEC", "{}")).get("task", {})
    print(f"scored {len(frame)} rows as replica {task.get('type')}-{task.get('index')}")
    return len(frame)


@dsl.component(base_image=TEAM_IMAGE, install_kfp_package=False)
def model_card(
    champion: Input[Artifact],
    metrics: Input[Metrics],
    predictions: Input[Dataset],
    card: Output[Markdown],
    model_display_name: str,
    target_column: str = "target",
):
    """Writes a Markdown model card: the registered version, its test metrics, its predictions."""
    import pandas as pd

    scored = pd.read_csv(predictions.path)
    agreement = float((scored["prediction"] == scored[target_column]).mean())
    lines = [
        f"# Model card: {model_display_name}",
        "",
        f"Version: `{champion.metadata.get('resourceName', 'unknown')}`",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for name, value in sorted(metrics.metadata.items()):
        if isinstance(value, int | float):
            lines.append(f"| {name} | {value:.4f} |")
    lines += ["", f"Scored rows: {len(scored)}, agreement with labels: {agreement:.4f}", ""]
    with open(card.path, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def vtp_component(name: str, source: str | Path = COMPILED_COMPONENTS):
    """One of vtp's compiled components, from its YAML in a directory or under a URL."""
    if str(source).startswith(("http://", "https://")):
        return components.load_component_from_url(f"{str(source).rstrip('/')}/{name}.yaml")
    return components.load_component_from_file(str(Path(source) / f"{name}.yaml"))


def build(components_source: str | Path = COMPILED_COMPONENTS):
    """The team's pipeline; vtp's compiled components come from `components_source`, a
    directory or a URL."""
    train_and_register = training.build()
    load_dataset = vtp_component("load_dataset", components_source)
    champion_model = vtp_component("champion_model", components_source)
    evaluate_model = vtp_component("evaluate_model", components_source)
    score_on_gpu = VERTEX.custom_job_from_component(
        score_rows, display_name="team-scoring", timeout="3600s", **SCORING_MACHINE
    )

    @dsl.pipeline(name=NAME, description=__doc__.splitlines()[0])
    def team_model_card(
        project: str,
        location: str = config.DEFAULT_LOCATION,
        data_source: str = SAMPLE_DATA_SOURCE,
        split_seed: int = 42,
        split_key_column: str = "id",
        model_display_name: str = "team-breast-cancer",
        metric_threshold: float = 0.9,
    ):
        """Trains and registers with vtp's pipeline, then scores and documents the model.

        Args:
            project: Google Cloud project of the Vertex resources.
            location: Vertex AI region.
            data_source: CSV / Parquet / JSONL file or wildcard, local path or `gs://`.
            split_seed: Seed of the split (the same for training and the held-out rows).
            split_key_column: Column whose hash splits the rows.
            model_display_name: The registered model.
            metric_threshold: AUC the model must reach to be registered.
        """
        trained = train_and_register(
            project=project,
            location=location,
            data_source=data_source,
            split_seed=split_seed,
            split_key_column=split_key_column,
            metric_threshold=metric_threshold,
            model_display_name=model_display_name,
        ).set_display_name("vtp-training")
        held_out = load_dataset(
            source=data_source, seed=split_seed, key_column=split_key_column
        ).set_display_name("held-out-rows")
        lookup = (
            VERTEX.ChampionLookupOp(
                project=project, location=location, model_display_name=model_display_name
            )
            .after(trained)
            .set_display_name("registered-model")
        )
        with dsl.If(lookup.outputs["Output"] == "found", name="model-registered"):
            model = champion_model(champion=lookup.outputs["champion"])
            evaluation = evaluate_model(model=model.outputs["model"], test=held_out.outputs["test"])
            scores = score_on_gpu(
                model=model.outputs["model"],
                rows=held_out.outputs["test"],
                project=project,
                location=location,
            ).set_display_name("score-on-gpu")
            model_card(
                champion=lookup.outputs["champion"],
                metrics=evaluation.outputs["metrics"],
                predictions=scores.outputs["predictions"],
                model_display_name=model_display_name,
            )

    return team_model_card


def compile_to(path: Path) -> Path:
    """Compiles the pipeline for Vertex AI to `path`."""
    from kfp import compiler

    compiler.Compiler().compile(build(), str(path))
    return path


def run_local(home: LocalHome, **params):
    """Compiles the pipeline and runs its YAML as `vtp run team.yaml --local` does (progress,
    run record under `home`); returns the run record, raises RunFailed on failure."""
    from vtp.local.run import run_pipeline

    path = compile_to(home.root / "team-pipeline.yaml")
    return run_pipeline(path, params, home=home, label="team-pipeline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python examples/team_pipeline.py compile team.yaml\n"
        "  python examples/team_pipeline.py run --home /tmp/team --project my-project",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    compile_cmd = sub.add_parser("compile", help="compile for Vertex AI to YAML")
    compile_cmd.add_argument("out", type=Path)
    run_cmd = sub.add_parser("run", help="compile, then run the YAML locally")
    run_cmd.add_argument("--home", default=None, help="local state (default ./.vtp)")
    run_cmd.add_argument("--project", default=config.LOCAL_PROJECT)
    args = parser.parse_args(argv)
    if args.command == "compile":
        compile_to(args.out)
        print(f"wrote {args.out}")
    else:
        from vtp.cli.summary import summarize
        from vtp.local.run import RunFailed

        home = LocalHome.resolve(args.home)
        home.create()
        try:
            record = run_local(home, project=args.project)
        except RunFailed as err:
            print(f"run failed: {err}", file=sys.stderr)
            return 1
        print(summarize(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
