"""`vtp ui` in a real browser: real local runs (training, and tuning with a small study), `vtp ui`
started as a real process on a free loopback port, and Debian's Chromium driven by
Playwright through run -> step -> plot -> trials -> model version -> lineage -> comparison.

Every page must load without a console error, a page error, a failed request or a request
leaving 127.0.0.1; the plots must be SVG with their data drawn. Screenshots are written to
`test-artifacts/ui/` (printed; kept out of git).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A small study: two trials of a short trainer.
STUDY = [
    {
        "parameter_id": "learning_rate",
        "double_value_spec": {"min_value": 0.05, "max_value": 0.3},
        "scale_type": "UNIT_LOG_SCALE",
    },
    {
        "parameter_id": "max_iter",
        "integer_value_spec": {"min_value": 10, "max_value": 30},
        "scale_type": "UNIT_LINEAR_SCALE",
    },
    {
        "parameter_id": "max_leaf_nodes",
        "integer_value_spec": {"min_value": 4, "max_value": 16},
        "scale_type": "UNIT_LINEAR_SCALE",
    },
]


@pytest.fixture(scope="module")
def ran_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a real training run, a real tuning run (its best trial registered as
    version 2 of the same model) and a regression training run (the diabetes sample)."""
    from support.cli import run_vtp

    home = tmp_path_factory.mktemp("ui-runs") / "home"
    done = run_vtp("run", "training", "--local", home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    params = tmp_path_factory.getbasetemp() / "tuning-params.json"
    params.write_text(
        json.dumps(
            {"max_trial_count": 3, "parallel_trial_count": 2, "study_spec_parameters": STUDY}
        )
    )
    done = run_vtp(
        "run", "tuning", "--local", "--params", str(params), "--tuning-seed", "7", home=home
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_vtp(
        "run",
        "training",
        "--local",
        "--param",
        "data_source=sample://diabetes.csv",
        "--param",
        "primary_metric=rmse",
        "--param",
        "metric_goal=minimize",
        "--param",
        "metric_threshold=1000.0",
        "--param",
        "model_display_name=diabetes-regressor",
        home=home,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home


@pytest.fixture(scope="module")
def ui_url(ran_home: Path) -> Iterator[str]:
    """`vtp ui --port 0` as a real process; its address, read from what it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vtp", "ui", "--port", "0", "--home", str(ran_home)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"vtp ui printed nothing: {proc.stderr.read()}")
    assert first.startswith(f"vtp ui: {ran_home.resolve()} at http://127.0.0.1:"), first
    url = first.split(" at ", 1)[1].split()[0].rstrip("/")
    yield url
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watch:
    """What the page reported: console errors, page errors, failed or foreign requests."""

    def __init__(self, page, origin: str):
        self.problems: list[str] = []
        self.origin = origin
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on("response", self._response)
        page.route("**/*", self._route)

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.origin) or url.startswith("data:"):
            route.continue_()
        else:
            self.problems.append(f"request leaving the UI: {url}")
            route.abort()


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot {path}")
    return path


def plot(page, kind: str, mark: str):
    """The first `<svg data-plot=kind>` and how many `.mark` elements it draws."""
    svg = page.locator(f'svg[data-plot="{kind}"]').first
    assert svg.is_visible(), kind
    box = svg.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, (kind, box)
    return svg, svg.locator(f".{mark}").count()


def test_walk_run_step_plot_trials_version_lineage(browser, ui_url, ran_home):
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, ui_url)

    # runs
    page.goto(ui_url + "/")
    assert page.url == ui_url + "/runs"
    rows = page.locator("#runs tr[data-run]")
    assert rows.count() == 3
    ids = [rows.nth(i).get_attribute("data-run") for i in range(3)]
    regression_id = ids[0]  # the newest
    tuning_id = next(i for i in ids if i.startswith("tuning-"))
    training_id = next(i for i in ids[1:] if i.startswith("training-"))
    shoot(page, "01-runs")

    # the tuning run: its graph of steps
    page.click(f'a[href="/runs/{tuning_id}"]')
    assert page.url == f"{ui_url}/runs/{tuning_id}"
    assert page.locator("#run-state").inner_text() == "SUCCEEDED"
    nodes = page.locator('svg[data-plot="dag"] a.node')
    assert nodes.count() >= 15
    assert page.locator('svg[data-plot="dag"] path.edge').count() >= nodes.count() - 2
    assert page.locator('svg[data-plot="dag"] a.node[data-state="SKIPPED"]').count() >= 1
    shoot(page, "02-run-graph")

    # a step, reached from its box in the graph
    page.locator('svg[data-plot="dag"] a.node[data-step="evaluate-model"]').click()
    assert page.url == f"{ui_url}/runs/{tuning_id}/steps/evaluate-model"
    assert "evaluated on" in page.locator("#log").inner_text()
    assert page.locator("#outputs").inner_text().count("gs://local-pipeline-root/") >= 2
    shoot(page, "03-step")

    # its plots: the confusion matrix and the ROC curve, with data
    _, cells = plot(page, "confusion-matrix", "cell")
    assert cells == 4
    _, points = plot(page, "roc", "point")
    assert points >= 3
    counts = page.locator('svg[data-plot="confusion-matrix"] .cell').evaluate_all(
        "cells => cells.map(c => Number(c.dataset.count))"
    )
    assert sum(counts) > 0
    page.locator('svg[data-plot="roc"]').first.screenshot(path=str(ARTIFACTS / "04-roc.png"))

    # trials, from the run page
    page.go_back()
    page.click("a.tuning-link")
    assert "/tuning/" in page.url
    trials = page.locator("#trials tr[data-trial]")
    assert trials.count() == 3
    assert "best" in (trials.first.get_attribute("class") or "")
    assert "★ best" in trials.first.inner_text()
    values = [float(trials.nth(i).locator("td").nth(3).inner_text()) for i in range(3)]
    assert values == sorted(values, reverse=True)  # auc, maximised: best first
    _, lines = plot(page, "parallel-coordinates", "trial")
    assert lines == 3
    shoot(page, "05-trials")

    # the model version the run registered, and its lineage
    page.click(f'a[href="/runs/{tuning_id}"]')
    page.click("a.model-link")
    assert "/versions/2" in page.url
    lineage = page.locator("#lineage").inner_text()
    assert "sample://breast_cancer.csv" in lineage
    assert "vtp-trainer:0.1.0" in lineage
    assert "trial" in page.locator("#hyperparameters").inner_text()
    assert "learning_rate=" in page.locator("#hyperparameters").inner_text()
    plot(page, "confusion-matrix", "cell")
    shoot(page, "06-model-version")
    page.click("#lineage-run")
    assert page.url == f"{ui_url}/runs/{tuning_id}"

    # models, and version 1 back to the training run
    page.click('header a[href="/models"]')
    row = page.locator("#models tr", has_text="breast-cancer-classifier")
    row.locator("a.version-link", has_text="1").first.click()
    assert page.locator("#lineage-run").inner_text() == training_id
    assert "custom job" in page.locator("#lineage").inner_text()

    # a regression run: predicted against actual, residuals
    page.goto(f"{ui_url}/runs/{regression_id}")
    test_rows = int(float(page.locator("table.scalars td").last.inner_text()))
    _, points = plot(page, "predicted-vs-actual", "point")
    assert points == test_rows > 10
    _, points = plot(page, "residuals", "point")
    assert points == test_rows
    _, bars = plot(page, "residual-histogram", "bar")
    assert bars == 20
    assert page.locator('svg[data-plot="roc"]').count() == 0
    shoot(page, "08-regression")

    # two runs side by side
    query = urllib.parse.urlencode({"a": training_id, "b": tuning_id})
    page.goto(f"{ui_url}/compare?{query}")
    assert page.locator("#compare tr.metric").count() >= 5
    assert page.locator('svg[data-plot="roc"]').count() == 2
    shoot(page, "07-compare")

    page.close()
    assert watch.problems == []

    # a clear 404 (its console line, "Failed to load resource", is the expected one)
    page = browser.new_page()
    response = page.goto(f"{ui_url}/runs/no-such-run")
    assert response.status == 404
    assert "no run 'no-such-run'" in page.locator("#not-found").inner_text()
    page.close()
    print(f"screenshots in {ARTIFACTS}")


def test_vtp_ui_refuses_a_busy_port(ran_home):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "vtp", "ui", "--port", str(port), "--home", str(ran_home)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"--port is in use; choose another (--port 0: any free), got {port}" in done.stderr


def test_vtp_runs_on_real_runs(ran_home):
    from support.cli import run_vtp

    listed = run_vtp("runs", "list", home=ran_home)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 4  # the header and three runs
    shown = run_vtp("runs", "show", "last", home=ran_home)
    assert shown.returncode == 0, shown.stderr
    assert "data_source          sample://diabetes.csv" in shown.stdout
    assert "metrics   " in shown.stdout and "rmse=" in shown.stdout
    tuning = next(line.split()[0] for line in listed.stdout.splitlines() if "tuning-" in line)
    shown = run_vtp("runs", "show", tuning, home=ran_home)
    assert "hyperparameter-tuning-job [tune]" in shown.stdout
    assert "tuning    " in shown.stdout and "@2" in shown.stdout
