"""`vtp compile`: deterministic YAML, compiled/ in sync with the source, reusable outputs."""

import shutil
from pathlib import Path

import pytest
from kfp import compiler, dsl
from kfp.components import load_component_from_file

from vtp import catalog
from vtp import compiler as compiling
from vtp.cli.main import main

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "compiled"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compiled")
    compiling.compile_all(out)
    return out


def test_checked_in_compiled_dir_is_in_sync_with_the_source():
    drift = compiling.check(COMPILED)
    assert drift.clean, f"run `vtp compile`: {drift}"


def test_compiling_twice_is_byte_identical(fresh, tmp_path):
    again = tmp_path / "again"
    compiling.compile_all(again)
    first = sorted(p.relative_to(fresh) for p in fresh.rglob("*.yaml"))
    assert first == sorted(p.relative_to(again) for p in again.rglob("*.yaml"))
    for rel in first:
        assert (fresh / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_every_pipeline_and_component_is_compiled(fresh):
    names = {p.stem for p in (fresh / "pipelines").glob("*.yaml")}
    assert names == set(catalog.PIPELINES)
    assert {p.stem for p in (fresh / "components").glob("*.yaml")} == set(catalog.COMPONENTS)


def test_check_names_stale_missing_and_extra_files(fresh, tmp_path):
    copy = tmp_path / "compiled"
    shutil.copytree(fresh, copy)
    stale = copy / "pipelines" / "training.yaml"
    stale.write_text(stale.read_text() + "# edited\n")
    (copy / "components" / "metric_gate.yaml").unlink()
    (copy / "components" / "leftover.yaml").write_text("x: 1\n")
    drift = compiling.check(copy)
    assert drift.stale == [str(stale)]
    assert drift.missing == [str(copy / "components" / "metric_gate.yaml")]
    assert drift.extra == [str(copy / "components" / "leftover.yaml")]
    assert main(["compile", "--check", "--out", str(copy)]) == 1
    assert main(["compile", "--check", "--out", str(fresh)]) == 0


def test_component_image_option_rewrites_only_the_component_image(tmp_path):
    compiling.compile_all(tmp_path, component_image="europe-docker.pkg.dev/p/r/vtp:1")
    text = (tmp_path / "components" / "load_dataset.yaml").read_text()
    assert "image: europe-docker.pkg.dev/p/r/vtp:1" in text
    assert "vtp-components:0.1.0" not in text


def test_compiled_components_load_and_compose_into_another_pipeline(fresh, tmp_path):
    load = load_component_from_file(str(fresh / "components" / "load_dataset.yaml"))
    gate = load_component_from_file(str(fresh / "components" / "metric_gate.yaml"))

    @dsl.pipeline(name="consumer")
    def consumer(source: str):
        data = load(source=source)
        gate(value=0.5, threshold=0.4).after(data)

    compiler.Compiler().compile(consumer, str(tmp_path / "consumer.yaml"))
    assert "load-dataset" in (tmp_path / "consumer.yaml").read_text()


def test_compiled_pipeline_is_usable_as_a_step_of_another_pipeline(fresh, tmp_path):
    training = load_component_from_file(str(fresh / "pipelines" / "training.yaml"))

    @dsl.pipeline(name="outer")
    def outer(project: str):
        training(project=project, metric_threshold=0.8)

    compiler.Compiler().compile(outer, str(tmp_path / "outer.yaml"))
    assert (tmp_path / "outer.yaml").stat().st_size > 0


def test_pipelines_build(tmp_path):
    for name in catalog.PIPELINES:
        path = tmp_path / f"{name}.yaml"
        compiler.Compiler().compile(catalog.pipeline_module(name).build(), str(path))
        assert path.stat().st_size > 0


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_vtp_writes_the_document_kfps_compiler_writes(name, tmp_path):
    """vtp writes the YAML through libyaml's emitter, KFP through PyYAML's Python one: the
    same header and the same document, folded differently."""
    import yaml

    pipeline = catalog.pipeline_module(name).build()
    kfp_path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(pipeline, str(kfp_path))
    ours = compiling.to_yaml(pipeline)
    theirs = compiling._stable_header(kfp_path.read_text())
    assert list(yaml.safe_load_all(ours)) == list(yaml.safe_load_all(theirs))
    header = [line for line in ours.splitlines() if line.startswith("#")]
    assert header and header == [line for line in theirs.splitlines() if line.startswith("#")]


def test_image_flags_and_configuration_reach_the_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vtp.toml").write_text('registry = "europe-docker.pkg.dev/p/r"\n')
    assert main(["compile"]) == 0
    text = (tmp_path / "compiled" / "pipelines" / "tuning.yaml").read_text()
    assert "image: europe-docker.pkg.dev/p/r/vtp-components:" in text
    assert "defaultValue: europe-docker.pkg.dev/p/r/vtp-trainer:" in text
    assert main(["compile", "--check"]) == 0
    assert main(["compile", "--check", "--component-image", "europe-docker.pkg.dev/p/r/x:1"]) == 1
