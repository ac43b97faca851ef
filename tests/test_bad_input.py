"""The bad-input corpus: every case is refused before the first step with exit code 2 and one
message naming the parameter (or option), the value and what is allowed.

The cases run the real `vtp` command in this process (`vtp.cli.main.main`): they all stop while
the run is prepared, so no step, zygote or record is started, and the home is never created.
Generated cases cover every parameter of vtp's three pipelines by its declared type (NaN and
infinities, integers beyond 2**53, text where a number is due...); hand-written ones cover the
rules by name (display names, project, location, images, metrics, URIs, durations, data files,
local caps), the pipelines' own checks, `--params` files and the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtp.cli.main import main

REPO = Path(__file__).resolve().parents[1]
DATA = str(REPO / "data" / "breast_cancer.csv")
PIPELINES = ("training", "tuning", "distributed")

FLOATS = {
    "training": ["metric_threshold", "train_fraction", "validation_fraction", "test_fraction"],
    "tuning": ["min_improvement", "train_fraction", "validation_fraction", "test_fraction"],
    "distributed": ["metric_threshold", "train_fraction", "validation_fraction", "test_fraction"],
}
INTEGERS = {
    "training": ["accelerator_count", "split_seed"],
    "tuning": ["max_failed_trial_count", "max_trial_count", "parallel_trial_count", "split_seed"],
    "distributed": ["accelerator_count", "reduction_server_count", "split_seed", "worker_count"],
}
DICTS = {"training": ["hyperparameters"], "distributed": ["hyperparameters"], "tuning": []}
LISTS = {
    "tuning": ["study_spec_metrics", "study_spec_parameters"],
    "training": [],
    "distributed": [],
}


def _case(pipeline: str, param: str, value: str, *needles: str, id_: str = ""):
    return pytest.param(
        pipeline, [f"{param}={value}"], (param, *needles), id=id_ or f"{pipeline}-{param}={value}"
    )


def _generated():
    for p in PIPELINES:
        for name in FLOATS[p]:
            for value in ("nan", "inf", "-inf"):
                yield _case(p, name, value, value, "must be a finite number")
            yield _case(p, name, "abc", "'abc'", "must be a number")
        for name in INTEGERS[p]:
            yield _case(p, name, "abc", "'abc'", "must be an integer")
            yield _case(p, name, "2.5", "'2.5'", "must be an integer")
            yield _case(p, name, str(2**60), str(2**60), "2**53")
        for name in DICTS[p]:
            yield _case(p, name, "[1, 2]", "[1, 2]", "must be a mapping")
            yield _case(p, name, '{"lr": NaN}', "nan", "must be a finite number")
            yield _case(p, name, '{"steps": 1e300000}', "inf", "must be a finite number")
        for name in LISTS[p]:
            yield _case(p, name, '{"a": 1}', "{'a': 1}", "must be a list")


NAMED = [
    ("model_display_name", "", "''", "1 to 128 characters"),
    ("model_display_name", "x" * 129, "xxxx", "1 to 128 characters"),
    ("model_display_name", "a\tb", "'a\\tb'", "control characters"),
    ("location", "a/b", "'a/b'", "Vertex AI region"),
    ("location", "", "''", "Vertex AI region"),
    ("location", "US-CENTRAL1", "'US-CENTRAL1'", "Vertex AI region"),
    ("location", "us central1", "'us central1'", "Vertex AI region"),
    ("project", "", "''", "Google Cloud project id"),
    ("project", "My Project", "'My Project'", "Google Cloud project id"),
    ("project", "1abc", "'1abc'", "Google Cloud project id"),
    ("project", "a" * 70, "aaaa", "Google Cloud project id"),
    ("project", "p/q", "'p/q'", "Google Cloud project id"),
    ("serving_image", "", "''", "container image URI"),
    ("serving_image", "has space:1", "'has space:1'", "container image URI"),
    ("serving_image", "Upper/Case:1", "'Upper/Case:1'", "container image URI"),
    ("trainer_image", "", "''", "container image URI"),
    ("trainer_image", "img:tag:extra", "'img:tag:extra'", "container image URI"),
    ("primary_metric", "bogus", "'bogus'", "must be one of"),
    ("primary_metric", "AUC", "'AUC'", "must be one of"),
    ("metric_goal", "up", "'up'", "maximize, minimize"),
    ("metric_goal", "minimize", "'minimize'", "'maximize' for metric 'auc'"),
    ("timeout", "1h", "'1h'", "duration in seconds"),
    ("timeout", "0s", "'0s'", "positive duration"),
    ("timeout", "-5s", "'-5s'", "duration in seconds"),
    ("timeout", "", "''", "duration in seconds"),
    ("staging_root", "/local/dir", "'/local/dir'", "gs://bucket/path URI or empty"),
    ("staging_root", "gs://bucket/../x", "'gs://bucket/../x'", "without '.' or '..'"),
    ("staging_root", "gs://bucket/./x", "'gs://bucket/./x'", "without '.' or '..'"),
    ("staging_root", "gs://../x", "'gs://../x'", "invalid bucket name"),
    ("data_source", "", "''", "a file, a wildcard or a gs:// URI"),
    ("data_source", "gs://bucket/../../../../tmp/x", "../../../../tmp/x", "without '.' or '..'"),
    ("data_source", "gs://b/a/./c.csv", "'gs://b/a/./c.csv'", "without '.' or '..'"),
    ("data_source", "gs:///x.csv", "'gs:///x.csv'", "has no bucket"),
    ("data_source", "/nonexistent/data.csv", "'/nonexistent/data.csv'", "does not exist"),
    ("data_source", "/nonexistent/*.csv", "'/nonexistent/*.csv'", "matches no file"),
    ("data_source", str(REPO / "data"), "/data'", "is not a file"),
    ("target_column", "", "''", "non-empty column name"),
    ("target_column", "  ", "'  '", "non-empty column name"),
    ("train_fraction", "1.5", "1.5", "from 0 to 1"),
    ("test_fraction", "-0.1", "-0.1", "from 0 to 1"),
]


def _named():
    for p in PIPELINES:
        for name, value, shown, allowed in NAMED:
            yield pytest.param(
                p, [f"{name}={value}"], (name, shown, allowed), id=f"{p}-{name}={value[:20]!r}"
            )


PIPELINE_CHECKS = [
    ("training", ["train_fraction=0.5"], ("0.5", "sum")),
    (
        "training",
        ["accelerator_type=NVIDIA_TESLA_T4", "accelerator_count=3"],
        ("accelerator_count", "3", "must be one of 1, 2, 4"),
    ),
    ("training", ["accelerator_count=2"], ("accelerator_count", "2", "accelerator_type")),
    ("training", ["machine_type=n9-mega"], ("machine_type", "'n9-mega'", "must be")),
    ("training", ["accelerator_type=NVIDIA_TESLA_K80"], ("accelerator_type", "K80", "retired")),
    (
        "training",
        ['hyperparameters={"depth": [3]}'],
        ("hyperparameters", "[3]", "a number or a string"),
    ),
    ("tuning", ["final_model=newest"], ("final_model", "'newest'", "must be one of")),
    (
        "tuning",
        ["max_trial_count=2", "parallel_trial_count=3"],
        ("parallel_trial_count", "3", "max_trial_count"),
    ),
    ("tuning", ["study_spec_algorithm=GRID_SEARCH"], ("GRID_SEARCH", "DOUBLE")),
    ("tuning", ["study_spec_algorithm=BAYESIAN"], ("algorithm", "'BAYESIAN'", "must be one of")),
    ("tuning", ["study_spec_measurement_selection_type=FIRST"], ("measurement_selection", "FIRST")),
    ("tuning", ["max_trial_count=0"], ("max_trial_count", "0", "at least 1")),
    ("tuning", ["parallel_trial_count=0"], ("parallel_trial_count", "0", "at least 1")),
    ("tuning", ["max_failed_trial_count=-1"], ("max_failed_trial_count", "-1", "at least 0")),
    (
        "tuning",
        ["parallel_trial_count=1000", "max_trial_count=2000"],
        ("parallel_trial_count", "1000", "in a local run", "this machine allows at most"),
    ),
    ("tuning", ['study_spec_metrics=[{"metric_id": "auc"}]'], ("goal", "required")),
    ("tuning", ['study_spec_parameters=[{"parameter_id": "x"}]'], ("parameter", "x")),
    ("tuning", ["min_improvement=-1"], ("min_improvement", "-1", "at least 0")),
    ("distributed", ["worker_count=0"], ("worker_count", "0", "at least 1")),
    (
        "distributed",
        ["worker_count=100000"],
        ("worker_count", "100000", "in a local run", "this machine allows at most"),
    ),
    ("distributed", ["reduction_server_count=-1"], ("reduction_server_count", "-1", "at least 0")),
    ("distributed", ["reduction_server_count=2"], ("accelerator_type", "Reduction Server")),
    ("distributed", ["worker_machine_type=n9-mega"], ("machine_type", "'n9-mega'")),
]


def _pipeline_checks():
    for p, params, needles in PIPELINE_CHECKS:
        yield pytest.param(p, params, needles, id=f"{p}-{'+'.join(params)[:40]}")


@pytest.mark.parametrize(
    ("pipeline", "params", "needles"), [*_generated(), *_named(), *_pipeline_checks()]
)
def test_a_bad_parameter_is_refused_before_anything_runs(
    pipeline, params, needles, tmp_path, capsys
):
    home = tmp_path / "home"
    argv = ["run", pipeline, "--local", "--home", str(home), "--param", f"data_source={DATA}"]
    for item in params:
        argv += ["--param", item]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("vtp: error: ") and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert not home.exists(), "nothing may be created before the input is checked"


def _params_file(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


COMMAND_LINE = [
    ("unknown-param", lambda t: ["--param", "colour=blue"], ("'colour'", "takes:")),
    ("param-without-value", lambda t: ["--param", "colour"], ("'colour'", "NAME=VALUE")),
    (
        "params-missing",
        lambda t: ["--params", str(t / "none.yaml")],
        ("none.yaml", "does not exist"),
    ),
    (
        "params-not-mapping",
        lambda t: ["--params", _params_file(t, "l.yaml", b"- 1\n")],
        ("l.yaml", "mapping"),
    ),
    (
        "params-bad-yaml",
        lambda t: ["--params", _params_file(t, "b.yaml", b"a: [\n")],
        ("b.yaml", "not valid YAML"),
    ),
    (
        "params-duplicate-key",
        lambda t: ["--params", _params_file(t, "d.yaml", b"a: 1\na: 2\n")],
        ("d.yaml", "key twice", "'a'"),
    ),
    (
        "params-nested-duplicate",
        lambda t: ["--params", _params_file(t, "n.yaml", b"hyperparameters: {x: 1, x: 2}\n")],
        ("n.yaml", "key twice", "'x'"),
    ),
    (
        "params-deep",
        lambda t: [
            "--params",
            _params_file(t, "deep.yaml", b"x: " + b"[" * 4000 + b"]" * 4000 + b"\n"),
        ],
        ("deep.yaml", "nested at most"),
    ),
    (
        "params-deep-33",
        lambda t: ["--params", _params_file(t, "d33.yaml", b"x: " + b"[" * 40 + b"]" * 40 + b"\n")],
        ("d33.yaml", "nested at most 32"),
    ),
    (
        "params-not-utf8",
        lambda t: ["--params", _params_file(t, "u.yaml", b"a: \xff\xfe\n")],
        ("u.yaml", "UTF-8"),
    ),
    (
        "params-unknown-key",
        lambda t: ["--params", _params_file(t, "k.yaml", b"colour: 1\n")],
        ("'colour'", "takes:"),
    ),
    (
        "params-wrong-type",
        lambda t: ["--params", _params_file(t, "w.yaml", b"split_seed: x\n")],
        ("split_seed", "'x'", "integer"),
    ),
    (
        "params-nan",
        lambda t: ["--params", _params_file(t, "nan.yaml", b"metric_threshold: .nan\n")],
        ("metric_threshold", "nan", "finite"),
    ),
    ("parallelism-zero", lambda t: ["--parallelism", "0"], ("--parallelism", "0", "at least 1")),
    ("parallelism-negative", lambda t: ["--parallelism", "-2"], ("--parallelism", "-2")),
    (
        "resume-unknown",
        lambda t: ["--resume", "nope-run"],
        ("--resume", "'nope-run'", "no such run"),
    ),
    ("resume-with-params", lambda t: ["--resume", "x", "--param", "a=1"], ("--resume", "--param")),
]


@pytest.mark.parametrize(
    ("extra", "needles"),
    [pytest.param(make, needles, id=name) for name, make, needles in COMMAND_LINE],
)
def test_bad_command_lines_are_refused(extra, needles, tmp_path, capsys):
    home = tmp_path / "home"
    code = main(["run", "training", "--local", "--home", str(home), *extra(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert not (home / "runs").exists()


def _not_a_pipeline(t: Path) -> str:
    path = t / "component.yaml"
    path.write_text("name: x\nimplementation: {container: {image: i}}\n")
    return str(path)


def _bad_yaml(t: Path) -> str:
    path = t / "broken.yaml"
    path.write_text("root: [\n")
    return str(path)


def _binary(t: Path) -> str:
    path = t / "binary.yaml"
    path.write_bytes(b"\x00\xff\xfe")
    return str(path)


PIPELINE_FILES = [
    ("unknown-name", lambda t: "trainingz", ("'trainingz'", "known:")),
    ("missing-file", lambda t: str(t / "missing.yaml"), ("missing.yaml", "does not exist")),
    ("directory", lambda t: str(t), ("is not a file",)),
    ("not-a-pipeline", _not_a_pipeline, ("component.yaml", "not a compiled KFP v2 pipeline")),
    ("bad-yaml", _bad_yaml, ("broken.yaml", "not valid YAML")),
    ("binary", _binary, ("binary.yaml",)),
]


@pytest.mark.parametrize(
    ("target", "needles"), [pytest.param(m, n, id=i) for i, m, n in PIPELINE_FILES]
)
def test_what_is_not_a_runnable_pipeline_is_refused(target, needles, tmp_path, capsys):
    argv_target = str(tmp_path) + "/" if target(tmp_path) == str(tmp_path) else target(tmp_path)
    code = main(["run", argv_target, "--local", "--home", str(tmp_path / "home")])
    err = capsys.readouterr().err
    assert code == 2, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


@pytest.mark.parametrize(
    ("out", "needles"),
    [
        ("", ("--out", "''", "non-empty")),
        ("README.md", ("--out", "'README.md'", "a file")),
        (".", ("--out", "'.'", "Python sources")),
        ("   ", ("--out", "'   '", "non-empty")),
    ],
)
def test_compile_refuses_output_paths_that_are_not_its_directory(out, needles, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["compile", "--out", out]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err


def test_run_without_local_is_refused(capsys):
    assert main(["run", "training"]) == 2
    assert "--local" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"", ("registry.db", "empty (0 bytes)", "move it away")),
        (b"not a database at all" * 100, ("registry.db", "corrupt or not a model registry")),
        (b"SQLite format 3\x00" + b"\x00" * 80, ("registry.db", "corrupt")),
    ],
    ids=["empty", "garbage", "truncated-header"],
)
def test_an_empty_or_corrupt_registry_is_reported_before_a_run(content, needles, tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "registry.db").write_bytes(content)
    code = main(
        ["run", "training", "--local", "--home", str(home), "--param", f"data_source={DATA}"]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    for needle in needles:
        assert needle in err
    assert not (home / "runs").exists() or not list((home / "runs").iterdir())
    assert (home / "registry.db").read_bytes() == content  # left as it was
    code = main(["models", "list", "--home", str(home)])
    err = capsys.readouterr()
    assert code == 2 and "No models" not in err.out and needles[1] in err.err


def test_an_unusable_home_is_one_clear_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(
        ["run", "training", "--local", "--home", str(blocker), "--param", f"data_source={DATA}"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"vtp: error: vtp home '{blocker}' is not usable: Not a directory "
        f"({blocker}/gcs/local-pipeline-root); use --home DIR or VTP_HOME with a writable directory"
    ]


def test_a_non_utf8_csv_is_refused_before_the_run(tmp_path, capsys):
    data = tmp_path / "latin1.csv"
    data.write_bytes("id,name,target\n1,caf\xe9,1\n".encode("latin-1") * 10)
    code = main(
        [
            "run",
            "training",
            "--local",
            "--home",
            str(tmp_path / "h"),
            "--param",
            f"data_source={data}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "data_source" in err and "latin1.csv" in err and "UTF-8" in err


def test_the_corpus_has_at_least_150_cases():
    cases = [*_generated(), *_named(), *_pipeline_checks()]
    total = len(cases) + len(COMMAND_LINE) + len(PIPELINE_FILES) + 4 + 1 + 3 + 2
    assert total >= 150, total
    print(json.dumps({"bad_input_cases": total}))
