"""One configuration: `[tool.vtp]` or `vtp.toml` found walking up, flags over environment over
file over defaults, every value checked before a command runs, `vtp config` naming sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtp import config, defaults
from vtp.cli.main import main
from vtp.errors import SpecError
from vtp.local.image_commands import configured_image_commands

REGISTRY = "europe-west4-docker.pkg.dev/p/images"
#: Every variable the configuration reads, so a test starts from none of the user's.
ENVIRONMENT = [k.env for k in config.KEYS.values() if k.env] + [config.CONFIG_ENV]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_pyproject_tool_table_is_found_walking_up(tmp_path):
    file = write(
        tmp_path / "pyproject.toml", f'[tool.vtp]\nproject = "my-proj"\nregistry = "{REGISTRY}"\n'
    )
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    loaded = config.load(cwd=deep, environ={})
    assert loaded.path == file
    assert loaded.settings["project"] == config.Setting("my-proj", f"{file} [tool.vtp]", "file")
    assert (
        loaded.value("component_image")
        == f"{REGISTRY}/vtp-components:{defaults.image('components').split(':')[1]}"
    )
    assert loaded.settings["component_image"].source == "default (from registry)"


def test_a_pyproject_without_the_table_is_passed_over_and_vtp_toml_wins_in_its_directory(tmp_path):
    write(tmp_path / "vtp.toml", 'project = "outer"\n')
    write(tmp_path / "inner" / "pyproject.toml", '[project]\nname = "team"\n')
    assert config.load(cwd=tmp_path / "inner", environ={}).value("project") == "outer"
    write(tmp_path / "inner" / "vtp.toml", 'project = "inner-toml"\n')
    write(tmp_path / "inner" / "pyproject.toml", '[tool.vtp]\nproject = "inner-pyproject"\n')
    assert config.load(cwd=tmp_path / "inner", environ={}).value("project") == "inner-toml"


def test_without_a_file_every_value_is_a_default(tmp_path):
    loaded = config.load(cwd=tmp_path, environ={})
    assert loaded.path is None
    assert loaded.value("location") == "us-central1" and loaded.value("project") is None
    assert loaded.images() == config.Images(
        defaults.COMPONENT_IMAGE, loaded.value("trainer_images")
    )
    assert loaded.value("trainer_images")["trainer"] == defaults.TRAINER_IMAGE
    assert {s.kind for s in loaded.settings.values()} == {"default"}


def test_flags_override_the_environment_which_overrides_the_file(tmp_path):
    write(tmp_path / "vtp.toml", 'project = "from-file"\nlocation = "europe-west4"\n')
    environ = {"GOOGLE_CLOUD_PROJECT": "from-env"}
    loaded = config.load(cwd=tmp_path, environ=environ)
    assert loaded.settings["project"] == config.Setting(
        "from-env", "env GOOGLE_CLOUD_PROJECT", "env"
    )
    assert loaded.settings["location"].kind == "file"
    flagged = config.load(flags={"project": "from-flag"}, cwd=tmp_path, environ=environ)
    assert flagged.settings["project"] == config.Setting("from-flag", "flag --project", "flag")


def test_paths_in_a_file_are_relative_to_the_file(tmp_path):
    write(tmp_path / "vtp.toml", 'home = "state"\ncompiled = "build/yaml"\n')
    (tmp_path / "sub").mkdir()
    loaded = config.load(cwd=tmp_path / "sub", environ={})
    assert loaded.value("home") == str(tmp_path / "state")
    assert loaded.value("compiled") == str(tmp_path / "build" / "yaml")


def test_trainer_images_not_given_follow_the_registry(tmp_path):
    write(
        tmp_path / "vtp.toml",
        f'registry = "{REGISTRY}"\n[trainer_images]\ntrainer-gpu = "gcr.io/p/gpu:1"\n',
    )
    setting = config.load(cwd=tmp_path, environ={}).settings["trainer_images"]
    assert setting.value["trainer-gpu"] == "gcr.io/p/gpu:1"
    assert setting.value["trainer"].startswith(f"{REGISTRY}/vtp-trainer:")
    assert "(trainer-gpu); default (from registry) (trainer, trainer-distributed)" in setting.source


def test_the_image_commands_table_and_the_variable_feed_one_mapping(tmp_path, monkeypatch):
    write(
        tmp_path / "vtp.toml",
        '[image_commands]\n"gcr.io/p/t" = ["python", "-m", "trainer.task"]\n'
        '"gcr.io/p/u:1" = "python -m other --flag"\n',
    )
    monkeypatch.chdir(tmp_path)
    assert configured_image_commands() == {
        "gcr.io/p/t": ["python", "-m", "trainer.task"],
        "gcr.io/p/u:1": ["python", "-m", "other", "--flag"],
    }
    monkeypatch.setenv("VTP_IMAGE_COMMANDS", '{"gcr.io/p/t": ["python", "-m", "env_wins"]}')
    assert configured_image_commands() == {"gcr.io/p/t": ["python", "-m", "env_wins"]}


@pytest.mark.parametrize(
    ("text", "field", "allowed"),
    [
        ('location = "europe west4"', "location (", "must be a Vertex AI region"),
        ('project = "Bad_Project"', "project (", "must be a project id"),
        ('pipeline_root = "s3://x"', "pipeline_root (", "must be gs://BUCKET[/PATH]"),
        ('service_account = "me@example.com"', "service_account (", "service account email"),
        ('registry = "https://x.pkg.dev/p/r"', "registry (", "must be a path without a scheme"),
        ('repository = "Pipelines!"', "repository (", "must be a repository id"),
        ('component_image = "not an image"', "component_image (", "must be an image reference"),
        ('[trainer_images]\ntrainer-tpu = "x:1"', "trainer_images (", "must be one of trainer"),
        ('[image_commands]\n"img" = []', "image_commands (", "must map an image URI"),
        ("project = 3", "project (", "must be a non-empty string"),
    ],
)
def test_a_bad_value_in_the_file_stops_any_command_with_exit_2(
    tmp_path, monkeypatch, capsys, text, field, allowed
):
    file = write(tmp_path / "vtp.toml", text + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vtp: error: {field}{file})") or f"{field}{file}" in err, err
    assert allowed in err


def test_bad_values_from_the_environment_and_flags_name_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VTP_LOCATION", "Mars")
    assert main(["config"]) == 2
    assert "VTP_LOCATION must be a Vertex AI region" in capsys.readouterr().err
    monkeypatch.delenv("VTP_LOCATION")
    monkeypatch.setenv("VTP_TRAINER_IMAGES", "{not json")
    assert main(["config"]) == 2
    assert "VTP_TRAINER_IMAGES must be a JSON object" in capsys.readouterr().err
    monkeypatch.delenv("VTP_TRAINER_IMAGES")
    assert main(["compile", "--component-image", "Not An Image", "--out", str(tmp_path)]) == 2
    assert "--component-image must be an image reference" in capsys.readouterr().err


def test_unknown_keys_broken_toml_and_a_missing_config_file_are_errors(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "vtp.toml", 'projekt = "typo"\n')
    assert main(["list"]) == 2
    assert "unknown key 'projekt'; keys: home, project, location" in capsys.readouterr().err
    write(tmp_path / "vtp.toml", "project = \n")
    assert main(["list"]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    monkeypatch.setenv("VTP_CONFIG", str(tmp_path / "nope.toml"))
    assert main(["list"]) == 2
    assert f"VTP_CONFIG={tmp_path / 'nope.toml'}: no such file" in capsys.readouterr().err
    write(tmp_path / "vtp.toml", 'project = "p"\n')
    with pytest.raises(SpecError):
        config.load(cwd=tmp_path, environ={"VTP_LOCATION": "x y"})


def test_vtp_config_prints_values_and_sources(tmp_path, monkeypatch, capsys):
    file = write(tmp_path / "vtp.toml", f'registry = "{REGISTRY}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-proj")
    assert main(["config", "--location", "europe-west4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"file  {file}"
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["project"][1:] == ["env-proj", "env", "GOOGLE_CLOUD_PROJECT"]
    assert rows["location"][1:] == ["europe-west4", "flag", "--location"]
    assert rows["registry"][1:] == [REGISTRY, str(file)]
    assert rows["pipeline_root"][1:] == ["(unset)", "default"]
    assert main(["config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(file)
    assert data["values"]["component_image"]["source"] == "default (from registry)"


def test_export_makes_the_processes_a_run_starts_read_the_same_file(tmp_path, monkeypatch):
    """`vtp run` exports the file it found (component steps are other processes, perhaps in
    another directory); restored after the test by conftest."""
    import os

    file = write(tmp_path / "vtp.toml", 'project = "p"\n')
    loaded = config.load(cwd=tmp_path, environ={})
    config.export(loaded)
    assert os.environ[config.CONFIG_ENV] == str(file)
    assert config.load(cwd=tmp_path.parent, environ=dict(os.environ)).path == file
