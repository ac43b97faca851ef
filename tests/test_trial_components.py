"""Trial components used by both targets (best trial, its hyperparameters and model dir, worker
pools, threshold) and the trials report, called as plain functions with Vertex-shaped trials."""

import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from google.cloud import aiplatform_v1
from google_cloud_pipeline_components.v1.hyperparameter_tuning_job.utils import serialize_metrics
from kfp.dsl import HTML, Markdown

from vtp.components.tuning import svg_plot
from vtp.components.tuning.ops import (
    best_trial_model_dir,
    get_best_hyperparameters,
    get_best_trial,
    get_worker_pool_specs,
    is_metric_beyond_threshold,
    trials_report,
)
from vtp.components.tuning.report import build_report, render_html, render_markdown
from vtp.components.tuning.selection import parse_study_metrics
from vtp.components.tuning.study import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
)
from vtp.components.tuning.trials import NoSucceededTrialError, trial_to_json
from vtp.errors import SpecError

STUDY = StudySpec(
    [MetricSpec("auc", "MAXIMIZE"), MetricSpec("loss", "MINIMIZE")],
    [
        DoubleParameter("learning_rate", 1e-4, 0.5, "UNIT_LOG_SCALE"),
        IntegerParameter("max_depth", 2, 12),
        CategoricalParameter("optimizer", ["adam", "sgd"]),
        DiscreteParameter("batch_size", [16, 32, 64]),
    ],
)
METRICS = STUDY.op_inputs()["study_spec_metrics"]
PARAMETERS = STUDY.op_inputs()["study_spec_parameters"]


def _sdk_trial(trial_id, state, params, metrics=None, reason=""):
    """A trial exactly as the SDK serialises one (`Trial.to_json` of the aiplatform_v1 proto)."""
    trial = aiplatform_v1.Trial(
        id=str(trial_id),
        state=state,
        parameters=[{"parameter_id": k, "value": v} for k, v in params.items()],
        infeasible_reason=reason,
    )
    if metrics is not None:
        trial.final_measurement = aiplatform_v1.Measurement(
            step_count=10, metrics=[{"metric_id": k, "value": v} for k, v in metrics.items()]
        )
    return aiplatform_v1.Trial.to_json(trial)


def _params(lr, depth, opt, batch):
    return {"learning_rate": lr, "max_depth": depth, "optimizer": opt, "batch_size": batch}


STATE = aiplatform_v1.Trial.State
TRIALS = [
    _sdk_trial(1, STATE.SUCCEEDED, _params(0.01, 4.0, "adam", 32.0), {"auc": 0.91, "loss": 0.30}),
    _sdk_trial(
        2, STATE.INFEASIBLE, _params(0.4, 12.0, "sgd", 16.0), reason="replica exited with code 1"
    ),
    _sdk_trial(3, STATE.SUCCEEDED, _params(0.001, 8.0, "sgd", 64.0), {"auc": 0.95, "loss": 0.35}),
    _sdk_trial(4, STATE.SUCCEEDED, _params(0.1, 2.0, "adam", 16.0), {"auc": 0.88, "loss": 0.20}),
    _sdk_trial(5, STATE.ACTIVE, _params(0.02, 6.0, "adam", 32.0)),
]


# --- best trial ---------------------------------------------------------------------------------


def test_trials_are_what_the_sdk_writes():
    first = json.loads(TRIALS[0])
    assert first["state"] == 4 and first["finalMeasurement"]["stepCount"] == "10"
    assert json.loads(TRIALS[1])["state"] == 5 and "finalMeasurement" not in json.loads(TRIALS[1])


def test_best_trial_maximizes_the_primary_metric_and_skips_other_states():
    best = json.loads(get_best_trial.python_func(trials=TRIALS, study_spec_metrics=METRICS))
    assert best["id"] == "3"
    assert {m["metricId"]: m["value"] for m in best["finalMeasurement"]["metrics"]}["auc"] == 0.95


def test_best_trial_follows_the_first_metric_and_its_goal():
    loss_first = serialize_metrics({"loss": "minimize", "auc": "maximize"})
    best = json.loads(get_best_trial.python_func(trials=TRIALS, study_spec_metrics=loss_first))
    assert best["id"] == "4"


@pytest.mark.parametrize(
    "metrics",
    [
        [{"metric_id": "auc", "goal": 1}],
        [{"metric_id": "auc", "goal": 1.0}],  # kfp.local hands list numbers over as floats
        [{"metricId": "auc", "goal": "MAXIMIZE"}],
        [{"metric_id": "auc", "goal": "maximize"}],
        [json.dumps({"metric_id": "auc", "goal": 1})],
    ],
)
def test_study_metrics_take_every_form_kfp_and_gcpc_give(metrics):
    assert parse_study_metrics(metrics) == [MetricSpec("auc", "MAXIMIZE")]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([], r"study_spec_metrics must hold at least one metric"),
        ([{"metric_id": "auc", "goal": 3}], r"study_spec_metrics\[0\]\.goal must be MAXIMIZE"),
        ([{"metric_id": "auc"}], r"study_spec_metrics\[0\]\.goal is required"),
        ([{"metric_id": "auc", "goal": 1, "gaol": 1}], r"fields must be among metric_id, goal"),
        ({"auc": "maximize"}, r'study_spec_metrics must be a list of \{"metric_id", "goal"\}'),
    ],
)
def test_study_metrics_errors_name_the_field(metrics, message):
    with pytest.raises(SpecError, match=message):
        get_best_trial.python_func(trials=TRIALS, study_spec_metrics=metrics)


def test_no_succeeded_trial_names_the_states():
    trials = [TRIALS[1], TRIALS[4], trial_to_json(6, "SUCCEEDED", {"lr": 0.1}, {"auc": math.nan})]
    with pytest.raises(NoSucceededTrialError) as err:
        get_best_trial.python_func(trials=trials, study_spec_metrics=METRICS)
    message = str(err.value)
    assert "no trial SUCCEEDED with a value of metric 'auc'" in message
    assert "1 ACTIVE" in message and "1 INFEASIBLE" in message
    assert "1 SUCCEEDED without 'auc'" in message


def test_trials_as_dicts_with_float_states_work_too():
    """kfp.local passes list elements as JSON values: dicts, and numbers as floats."""
    trials = [json.loads(t) for t in TRIALS]
    for t in trials:
        t["state"] = float(t["state"])
    best = json.loads(get_best_trial.python_func(trials=trials, study_spec_metrics=METRICS))
    assert best["id"] == "3"


# --- hyperparameters, worker pools, model dir, threshold ----------------------------------------


def test_best_hyperparameters_are_the_trials_parameter_list():
    params = get_best_hyperparameters.python_func(trials=TRIALS, study_spec_metrics=METRICS)
    assert params == [
        {"parameterId": "learning_rate", "value": 0.001},
        {"parameterId": "max_depth", "value": 8.0},
        {"parameterId": "optimizer", "value": "sgd"},
        {"parameterId": "batch_size", "value": 64.0},
    ]
    json.dumps(params)  # a KFP list output must be JSON


POOLS = [
    {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {
            "image_uri": "trainer:1",
            "args": ["--epochs=3", "--learning_rate=0.5", "--max_depth", "3", "--optimizer=adam"],
        },
    },
    {},
    {},
    {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {"image_uri": "trainer:1", "args": ["--eval"]},
    },
]


def test_worker_pool_specs_replace_earlier_values_without_duplicates():
    best = get_best_hyperparameters.python_func(trials=TRIALS, study_spec_metrics=METRICS)
    pools = get_worker_pool_specs.python_func(best_hyperparameters=best, worker_pool_specs=POOLS)
    tail = ["--learning_rate=0.001", "--max_depth=8.0", "--optimizer=sgd", "--batch_size=64.0"]
    assert pools[0]["container_spec"]["args"] == ["--epochs=3", *tail]
    assert pools[1] == {} and pools[2] == {}
    assert pools[3]["container_spec"]["args"] == ["--eval", *tail]
    again = get_worker_pool_specs.python_func(best_hyperparameters=best, worker_pool_specs=pools)
    assert again == pools
    assert POOLS[0]["container_spec"]["args"][1] == "--learning_rate=0.5"  # input untouched


def test_worker_pool_specs_take_the_former_gcpc_json_strings():
    old_style = [json.dumps({"parameterId": "learning_rate", "value": 0.002})]
    pools = get_worker_pool_specs.python_func(
        best_hyperparameters=old_style, worker_pool_specs=POOLS[:1]
    )
    assert pools[0]["container_spec"]["args"][-1] == "--learning_rate=0.002"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([{"parameterId": "lr", "value": 1}, {"parameterId": "lr", "value": 2}], "must not repeat"),
        ([{"parameterId": "--lr", "value": 1}], r"best_hyperparameters\[0\]\.parameterId"),
        ([{"parameterId": "lr"}], 'must hold exactly "parameterId" and "value"'),
        ({"lr": 1}, "best_hyperparameters must be a list"),
    ],
)
def test_worker_pool_specs_refuse_malformed_parameters(params, message):
    with pytest.raises(SpecError, match=message):
        get_worker_pool_specs.python_func(best_hyperparameters=params, worker_pool_specs=POOLS)


@pytest.mark.parametrize("base", ["gs://bucket/tuning", "gs://bucket/tuning/"])
def test_best_trial_model_dir(base):
    best = get_best_trial.python_func(trials=TRIALS, study_spec_metrics=METRICS)
    model_dir = best_trial_model_dir.python_func(best_trial=best, base_output_directory=base)
    assert model_dir == "gs://bucket/tuning/3/model/"
    with pytest.raises(SpecError, match="base_output_directory must be a non-empty"):
        best_trial_model_dir.python_func(best_trial=best, base_output_directory="")


@pytest.mark.parametrize(
    ("trial", "metrics", "threshold", "verdict"),
    [
        (TRIALS[2], METRICS, 0.95, "pass"),
        (TRIALS[2], METRICS, 0.96, "fail"),
        (TRIALS[3], serialize_metrics({"loss": "minimize"}), 0.25, "pass"),
        (TRIALS[2], serialize_metrics({"loss": "minimize"}), 0.25, "fail"),
        (TRIALS[1], METRICS, 0.0, "fail"),  # INFEASIBLE: no value
    ],
)
def test_is_metric_beyond_threshold(trial, metrics, threshold, verdict):
    result = is_metric_beyond_threshold.python_func(
        trial=trial, study_spec_metrics=metrics, threshold=threshold
    )
    assert result == verdict


def test_threshold_component_has_a_single_string_output():
    """kfp.local evaluates a dsl.If only on a task's single output."""
    outputs = is_metric_beyond_threshold.component_spec.outputs
    assert list(outputs) == ["Output"] and outputs["Output"].type == "String"


# --- the report ---------------------------------------------------------------------------------


class _Tags(HTMLParser):
    """Checks that every non-void element is closed in order."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "circle", "line", "rect", "path"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _check_page(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    assert parser.errors == [] and parser.stack == []
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    for svg in svgs:
        ET.fromstring(svg)  # each plot is well-formed XML
    assert "<script" not in page.lower()
    links = [a for _, attrs in parser.tags for k, a in attrs.items() if k in ("src", "href")]
    assert links == []  # self-contained: nothing to fetch
    assert re.findall(r"https?://", page) == ["http://"] * len(svgs)  # only the SVG xmlns
    return parser


def test_report_lists_every_trial_sorted_with_the_best_highlighted():
    report = build_report(TRIALS, METRICS, PARAMETERS)
    assert [r.trial_id for r in report.rows] == ["3", "1", "4", "2", "5"]
    assert report.best.trial_id == "3"
    page = render_html(report)
    parser = _check_page(page)
    rows = [attrs for tag, attrs in parser.tags if tag == "tr" and "id" in attrs]
    assert [r["id"] for r in rows] == ["trial-3", "trial-1", "trial-4", "trial-2", "trial-5"]
    assert [r.get("class") for r in rows] == ["best", None, None, "novalue", "novalue"]
    assert "Best: trial 3, auc = 0.95 (maximize)." in page
    assert "5 trials: 1 ACTIVE, 1 INFEASIBLE, 3 SUCCEEDED." in page
    assert "replica exited with code 1" in page


def test_report_plots_the_metric_per_trial_and_per_parameter():
    page = render_html(build_report(TRIALS, METRICS, PARAMETERS))
    svgs = [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", page, flags=re.S)]
    titles = [svg.find("{http://www.w3.org/2000/svg}title").text for svg in svgs]
    assert titles == [
        "auc per trial (maximize)",
        "auc vs learning_rate (log scale)",
        "auc vs max_depth",
        "auc vs optimizer",
        "auc vs batch_size",
    ]
    ns = "{http://www.w3.org/2000/svg}"
    per_trial = svgs[0]
    circles = per_trial.findall(f"{ns}circle")
    assert len(circles) == 3 and sum(c.get("r") == "7" for c in circles) == 1
    assert "trial 3: auc=0.95" in per_trial.find(f"{ns}circle[@r='7']/{ns}title").text
    crosses = [p for p in per_trial.findall(f"{ns}path") if p.find(f"{ns}title") is not None]
    assert len(crosses) == 2  # INFEASIBLE and ACTIVE trials, marked without a value
    texts = [t.text for t in svgs[3].iter(f"{ns}text")]
    assert texts.index("adam") < texts.index("sgd")  # categories in the spec's order
    assert "0.001" in [t.text for t in svgs[1].iter(f"{ns}text")]  # decade ticks
    assert {"16", "32", "64"} <= set(texts := [t.text for t in svgs[4].iter(f"{ns}text")]), texts


def test_markdown_carries_the_same_table():
    markdown = render_markdown(build_report(TRIALS, METRICS, PARAMETERS))
    lines = markdown.splitlines()
    table = [line for line in lines if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == [
        "#", "trial", "state", "auc ↑", "loss",
        "learning_rate", "max_depth", "optimizer", "batch_size", "note",
    ]  # fmt: skip
    assert set(table[1]) <= {"|", "-", ":"}
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert all(len(r) == len(header) for r in rows)
    assert [r[1] for r in rows] == ["**3 (best)**", "1", "4", "2", "5"]
    assert rows[0][:4] == ["**1**", "**3 (best)**", "**SUCCEEDED**", "**0.95**"]
    assert rows[1][5:9] == ["0.01", "4", "adam", "32"]
    assert rows[3][2:4] == ["INFEASIBLE", ""]


def test_report_escapes_text_from_trials():
    trials = [
        trial_to_json(1, "SUCCEEDED", {"kind": "a|b<c>"}, {"auc": 0.5}),
        trial_to_json(2, "INFEASIBLE", {"kind": "x"}, infeasible_reason="bad <tag> | pipe"),
    ]
    report = build_report(trials, [{"metric_id": "auc", "goal": 1}], [])
    page = render_html(report)
    _check_page(page)
    assert "a|b&lt;c&gt;" in page and "bad &lt;tag&gt; | pipe" in page
    markdown = render_markdown(report)
    assert "a\\|b&lt;c&gt;" in markdown and "bad &lt;tag&gt; \\| pipe" in markdown
    assert report.parameters[0].kind == "categorical"  # typed from the trials: no spec given


def test_report_of_a_study_where_nothing_succeeded():
    report = build_report([TRIALS[1], TRIALS[4]], METRICS, PARAMETERS)
    assert report.best is None
    page = render_html(report)
    _check_page(page)
    assert "No trial succeeded with a value of auc." in page
    assert "against each parameter" not in page
    assert "No trial succeeded" in render_markdown(report)


def test_report_component_writes_both_artifacts_and_copies_named_with_their_extension(tmp_path):
    html = HTML(name="report", uri=str(tmp_path / "report"))
    md = Markdown(name="report_markdown", uri=str(tmp_path / "report_markdown"))
    trials_report.python_func(
        trials=TRIALS,
        study_spec_metrics=METRICS,
        study_spec_parameters=PARAMETERS,
        report=html,
        report_markdown=md,
    )
    page = (tmp_path / "report").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="trial-3"' in page
    assert "| **1** | **3 (best)** |" in (tmp_path / "report_markdown").read_text(encoding="utf-8")
    # the artifacts stay as Vertex reads them; the copies beside them open in a browser/editor
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page
    assert (tmp_path / "report_markdown.md").read_bytes() == (
        tmp_path / "report_markdown"
    ).read_bytes()
    assert html.metadata["file"] == str(tmp_path / "report.html")
    assert md.metadata["file"] == str(tmp_path / "report_markdown.md")


def test_nice_ticks():
    assert svg_plot.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg_plot.nice_ticks(1.4, 12.6, integer=True) == [2, 4, 6, 8, 10, 12]
    assert svg_plot.nice_ticks(0.5, 0.5) == [0.5]
