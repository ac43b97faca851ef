"""The UI's server-side SVG: every chart is well-formed XML with one mark per data point
placed where its value says, and the step graph is layered by dependencies."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vtp.local.history.runs import StepView
from vtp.ui import charts, dag

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<script" not in svg and 'href="http' not in svg
    return root


def marks(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_confusion_matrix_cells_counts_and_shades():
    root = parse(charts.confusion_matrix(["cat", "dog"], [[8, 2], [1, 9]]))
    cells = marks(root, "cell")
    assert [(c.get("data-true"), c.get("data-predicted"), c.get("data-count")) for c in cells] == [
        ("cat", "cat", "8"),
        ("cat", "dog", "2"),
        ("dog", "cat", "1"),
        ("dog", "dog", "9"),
    ]
    shades = [c.find("s:rect", NS).get("fill") for c in cells]
    assert shades[3] != shades[2]  # 90% of the row is darker than 10%
    assert "true dog, predicted dog: 9 (90.0% of the true class)" in ET.tostring(
        cells[3], "unicode"
    )


def test_confusion_matrix_of_a_row_with_no_examples():
    root = parse(charts.confusion_matrix(["a", "b", "c"], [[0, 0, 0], [1, 2, 3], [0, 0, 5]]))
    assert len(marks(root, "cell")) == 9


def test_roc_points_in_the_unit_square_and_a_curve():
    points = [(0.0, 0.0, 1.0), (0.1, 0.8, 0.6), (0.4, 0.95, 0.3), (1.0, 1.0, 0.0)]
    root = parse(charts.roc_curve(points, auc=0.93))
    circles = marks(root, "point")
    assert len(circles) == 4
    xs = [float(c.get("cx")) for c in circles]
    ys = [float(c.get("cy")) for c in circles]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # up and to the right
    assert marks(root, "curve")[0].get("d").startswith("M")
    assert "AUC 0.9300" in root.find("s:title", NS).text


def test_predicted_vs_actual_and_residuals():
    actual, predicted = [1.0, 2.0, 3.0], [1.5, 2.0, 2.0]
    root = parse(charts.predicted_vs_actual(actual, predicted))
    pts = marks(root, "point")
    assert len(pts) == 3
    assert "actual 3, predicted 2" in ET.tostring(pts[2], "unicode")
    res = parse(charts.residuals(actual, predicted))
    tips = [p.find("s:title", NS).text for p in marks(res, "point")]
    assert tips == [
        "predicted 1.5, residual -0.5",
        "predicted 2, residual 0",
        "predicted 2, residual 1",
    ]


def test_residual_histogram_counts_every_row():
    actual = [float(i) for i in range(100)]
    predicted = [a + (i % 7) - 3 for i, a in enumerate(actual)]
    root = parse(charts.residual_histogram(actual, predicted, bins=10))
    bars = marks(root, "bar")
    assert len(bars) == 10
    assert sum(int(b.find("s:title", NS).text.split(": ")[1].split()[0]) for b in bars) == 100


def test_residual_histogram_of_a_perfect_model():
    root = parse(charts.residual_histogram([1.0, 2.0], [1.0, 2.0], bins=4))
    assert len(marks(root, "bar")) == 4


def test_parallel_coordinates_one_line_per_trial_best_last():
    columns = [("learning_rate", True), ("max_iter", False), ("booster", False)]
    trials = [
        ("1", [0.01, 20.0, "gbtree", 0.90], False),
        ("2", [0.2, 80.0, "dart", 0.97], True),
        ("3", [0.05, None, "gbtree", None], False),
    ]
    root = parse(charts.parallel_coordinates(columns, trials, "auc"))
    lines = marks(root, "trial")
    assert [line.get("data-trial") for line in lines] == ["1", "3", "2"]  # best drawn on top
    assert "best" in lines[-1].get("class")
    assert lines[0].get("d").count("L") == 3  # four axes joined
    assert lines[1].get("d").count("M") == 2 and "L" not in lines[1].get("d")  # two dots
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"learning_rate", "max_iter", "booster", "auc", "dart", "gbtree"} <= set(labels)


def step(path: str, deps: tuple[str, ...] = (), state: str = "SUCCEEDED", kind="step") -> StepView:
    return StepView(
        path=path,
        display_name=path,
        kind=kind,
        state=state,
        parent="",
        started="2026-01-01T00:00:00.000Z",
        ended="",
        seconds=1.5,
        attempts=[],
        inputs={},
        outputs={},
        log=None,
        error="",
        resources=[],
        dependencies=deps,
    )


def test_dag_layers_follow_dependencies():
    steps = [
        step("load"),
        step("spec", ("load",)),
        step("train", ("spec",)),
        step("eval", ("train", "load")),
        step("upload", ("eval",), state="FAILED"),
        step("other"),
    ]
    assert dag.layers(steps) == {
        "load": 0,
        "other": 0,
        "spec": 1,
        "train": 2,
        "eval": 3,
        "upload": 4,
    }
    root = parse(dag.render(steps, lambda s: f"/runs/r/steps/{s.path}"))
    nodes = marks(root, "node")
    assert [n.get("data-step") for n in nodes] == [
        "load",
        "other",
        "spec",
        "train",
        "eval",
        "upload",
    ]
    assert nodes[-1].get("href") == "/runs/r/steps/upload"
    assert nodes[-1].find("s:rect", NS).get("stroke") == dag.STATE_COLOURS["FAILED"][1]
    edges = {(e.get("data-from"), e.get("data-to")) for e in marks(root, "edge")}
    assert edges == {
        ("load", "spec"),
        ("spec", "train"),
        ("train", "eval"),
        ("load", "eval"),
        ("eval", "upload"),
    }
    y = {n.get("data-step"): float(n.find("s:rect", NS).get("y")) for n in nodes}
    assert y["load"] < y["spec"] < y["train"] < y["eval"] < y["upload"]


def test_dag_names_are_escaped():
    root = parse(dag.render([step('a<b>&"c')], lambda s: "/x?a=1&b=2"))
    assert marks(root, "node")[0].get("href") == "/x?a=1&b=2"


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_point_charts_are_valid(n):
    parse(charts.predicted_vs_actual([1.0] * n, [1.0] * n))
    parse(charts.roc_curve([(0.0, 0.0, 1.0)] * n))
    parse(charts.parallel_coordinates([("x", False)], [("1", [1.0, 0.5], True)] * n, "m"))
    parse(dag.render([step("a")] * n, lambda s: "/"))


def test_a_multiclass_evaluation_reads_and_plots_each_class_against_the_rest(tmp_path):
    from dataclasses import replace

    from vtp.home import LocalHome
    from vtp.local.history import evaluations
    from vtp.ui.app import UI

    curve = [
        {"confidenceThreshold": 1.0, "falsePositiveRate": 0.0, "recall": 0.0},
        {"confidenceThreshold": 0.5, "falsePositiveRate": 0.1, "recall": 0.9},
        {"confidenceThreshold": 0.0, "falsePositiveRate": 1.0, "recall": 1.0},
    ]
    artifact = {
        "type": {"schemaTitle": "system.ClassificationMetrics"},
        "metadata": {
            "confusionMatrix": {
                "annotationSpecs": [{"displayName": c} for c in ("a", "b", "<c>")],
                "rows": [{"row": [3, 0, 0]}, {"row": [0, 3, 0]}, {"row": [0, 1, 2]}],
            },
            "oneVsRestRoc": [
                {"class": "a", "auc": 0.99, "confidenceMetrics": curve},
                {"class": "b", "auc": 0.9, "confidenceMetrics": list(reversed(curve))},
                {"class": "<c>", "auc": None, "confidenceMetrics": [{"recall": "x"}, 7]},
            ],
        },
    }
    evaluation = evaluations.of_step(replace(step("evaluate"), outputs={"cm": artifact}))
    assert evaluation.task == "multiclass" and evaluation.roc == []
    names = [(n, a) for n, a, _ in evaluation.roc_one_vs_rest]
    assert names == [("a", 0.99), ("b", 0.9), ("<c>", None)]
    assert evaluation.roc_one_vs_rest[0][2] == evaluation.roc_one_vs_rest[1][2]  # sorted points
    assert evaluation.roc_one_vs_rest[2][2] == []  # bad points skipped
    first = evaluation.roc_one_vs_rest[0][2]
    root = parse(charts.roc_curve(first, 0.99, against="class a vs rest"))
    assert root.find("s:title", NS).text == "ROC curve, class a vs rest (AUC 0.9900)"
    assert len(marks(root, "point")) == 3
    escaped = charts.roc_curve([], None, against="class <c> vs rest")
    assert "class &lt;c&gt; vs rest" in escaped and "<c>" not in escaped
    plots = [parse(str(svg)) for svg in UI(LocalHome(tmp_path)).plots(evaluation)]
    kinds = [p.get("data-plot") for p in plots]
    assert kinds == ["confusion-matrix", "roc", "roc", "roc"]
