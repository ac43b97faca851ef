"""Local trainers as the Python packages Vertex runs: built (real `uv build`), staged in the
local Cloud Storage root or in Cloud Storage (the real gcp-storage-emulator), installed in
cached environments (real `uv` installs), and the pre-run check of `vtp run`."""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path

import pytest

from vtp.errors import JobError
from vtp.local.preflight import check_local_trainer, reference_default_notice
from vtp.local.trainer_envs import ensure_env, env_key
from vtp.packaging import (
    SCRIPT_PACKAGE,
    PackagingError,
    build_trainer,
    content_hash,
    stage_gcs,
    stage_local,
)

SKLEARN = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"


def members(sdist: Path) -> dict[str, str]:
    with tarfile.open(sdist) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read().decode()
            for m in tar.getmembers()
            if m.isfile()
        }


def project(root: Path, *modules: str, requires: str = "[]") -> Path:
    """A pyproject-packaged trainer with `modules` (dotted, each a file)."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n"
        f"[project]\nname = 'team-trainer'\nversion = '1.2'\ndependencies = {requires}\n"
    )
    for module in modules:
        path = root / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text("print('trained')\n")
    return root


@pytest.mark.slow
def test_a_script_is_wrapped_as_the_sdk_wraps_it(tmp_path):
    (tmp_path / "src").mkdir()
    script = tmp_path / "src" / "train.py"
    script.write_text("import argparse\nargparse.ArgumentParser().parse_args()\n")
    (tmp_path / "src" / "requirements.txt").write_text("# pins\nscikit-learn==1.6.1\n\n")
    built = build_trainer(script, tmp_path / "dist")
    assert built.python_module == f"{SCRIPT_PACKAGE}.task" and built.wrapped
    assert built.requirements == ("scikit-learn==1.6.1",)
    files = members(built.sdist)
    assert files[f"{SCRIPT_PACKAGE}/task.py"] == script.read_text()
    assert "install_requires=['scikit-learn==1.6.1']" in files["setup.py"]

    again = build_trainer(script, tmp_path / "dist2")  # same sources: same content hash
    assert content_hash(again.sdist) == content_hash(built.sdist)
    other = build_trainer(script, tmp_path / "dist3", requirements=["pandas==3.1.1"])
    assert content_hash(other.sdist) != content_hash(built.sdist)


@pytest.mark.slow
def test_a_packaged_directory_is_built_as_it_is(tmp_path):
    root = project(tmp_path / "team", "trainer.task", "trainer.utils")
    built = build_trainer(root, tmp_path / "dist")
    assert built.sdist.name == "team_trainer-1.2.tar.gz" and not built.wrapped
    assert built.python_module == "trainer.task"

    two = project(tmp_path / "two", "pkg.a.task", "pkg.b.task")
    with pytest.raises(PackagingError, match=r"task.py modules found: pkg.a.task, pkg.b.task"):
        build_trainer(two, tmp_path / "dist")
    built = build_trainer(two, tmp_path / "dist", module="pkg.b.task")
    assert built.python_module == "pkg.b.task"
    with pytest.raises(PackagingError, match="declare its requirements there"):
        build_trainer(two, tmp_path / "dist", module="pkg.a.task", requirements=["x"])
    with pytest.raises(PackagingError, match="does not exist"):
        build_trainer(tmp_path / "nowhere", tmp_path / "dist")

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text("print('hi')\n")
    with pytest.raises(PackagingError, match="has no task.py: name the script"):
        build_trainer(plain, tmp_path / "dist")
    built = build_trainer(plain, tmp_path / "dist", module="train")
    assert built.python_module == f"{SCRIPT_PACKAGE}.train"


def test_staging_is_content_addressed_locally_and_in_cloud_storage(tmp_path):
    from standins.gcs import gcs_emulator

    built = build_trainer(project(tmp_path / "team", "trainer.task"), tmp_path / "dist")
    staged = stage_local(built, "gs://bucket/trainers/", tmp_path / "gcs")
    folder = built.content_hash[:16]
    assert staged.uri == f"gs://bucket/trainers/{folder}/team_trainer-1.2.tar.gz"
    assert staged.local_path == tmp_path / "gcs" / "bucket" / "trainers" / folder / built.sdist.name
    assert staged.local_path.read_bytes() == built.sdist.read_bytes()
    with pytest.raises(PackagingError, match="--staging-uri must be gs://BUCKET"):
        stage_local(built, "/tmp/x", tmp_path / "gcs")

    with gcs_emulator("team-bucket") as gcs:
        uploaded = stage_gcs(built, "gs://team-bucket/pkgs", client=gcs.client())
        blob = gcs.client().bucket("team-bucket").blob(uploaded.uri.split("/", 3)[3])
        assert blob.download_as_bytes() == built.sdist.read_bytes()
    assert uploaded.uri == f"gs://team-bucket/pkgs/{folder}/team_trainer-1.2.tar.gz"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """A package with one module and no dependencies (its environment installs offline from
    uv's cache once setuptools is there)."""
    root = tmp_path_factory.mktemp("pkg")
    return build_trainer(project(root / "team", "trainer.task"), root / "dist").sdist


@pytest.mark.slow
def test_environments_are_built_once_and_shared(tmp_path, package):
    rebuilt = build_trainer(project(tmp_path / "team", "trainer.task"), tmp_path / "d").sdist
    assert env_key([rebuilt]) == env_key([package])  # timestamps do not count
    lines: list[str] = []
    results = []

    def build() -> None:
        results.append(
            ensure_env([package], tmp_path / "envs", module="trainer.task", log=lines.append)
        )

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sum(r.built for r in results) == 1  # trials starting at once share one build
    assert len({r.root for r in results}) == 1
    assert len([line for line in lines if "building the environment" in line]) == 1
    env = results[0]
    assert env.python.is_file() and (env.root / "vtp-env.json").is_file()
    with pytest.raises(JobError, match="python_module 'trainer.train' is not in the package"):
        ensure_env([package], tmp_path / "envs", module="trainer.train")


def test_the_pre_run_check(tmp_path, package, monkeypatch):
    monkeypatch.delenv("VTP_IMAGE_COMMANDS", raising=False)
    gcs, envs = tmp_path / "gcs", tmp_path / "envs"

    def check(runtime: str = "process", **values):
        return check_local_trainer(
            values, runtime=runtime, gcs_root=gcs, envs_root=envs, log=lambda _: None
        )

    with pytest.raises(JobError, match="image 'their-trainer:2' runs its own ENTRYPOINT"):
        check(trainer_image="their-trainer:2")
    assert check(runtime="docker", trainer_image="their-trainer:2").trainer_image
    assert check(trainer_image="their-trainer:2", trainer_command=["python", "t.py"])
    assert check(trainer_image="vtp-trainer:0.1.0")  # built-in mapping
    monkeypatch.setenv("VTP_IMAGE_COMMANDS", '{"their-trainer": "python -m t"}')
    assert check(trainer_image="their-trainer:2")
    assert check(data_source="x.csv") is None  # a pipeline without a trainer

    uri = "gs://b/trainers/team_trainer-1.2.tar.gz"
    values = {"package_uris": [uri], "python_module": "trainer.task", "executor_image_uri": SKLEARN}
    with pytest.raises(JobError, match="is not in the local Cloud Storage root"):
        check(**values)
    (gcs / "b" / "trainers").mkdir(parents=True)
    (gcs / "b" / "trainers" / "team_trainer-1.2.tar.gz").write_bytes(package.read_bytes())
    trainer = check(**values)
    assert trainer.is_python_package and any(envs.iterdir())

    defaults = {"trainer_args": ["--target-column=target"], "hyperparameters": {}}
    values |= {"trainer_args": ["--target-column=target"], "hyperparameters": {}}
    notice = reference_default_notice(values, defaults, trainer)
    assert notice.startswith("notice: trainer_args are the reference trainer's defaults")
    assert reference_default_notice({**values, "trainer_args": []}, defaults, trainer) == ""
