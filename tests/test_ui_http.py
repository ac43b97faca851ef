"""`vtp ui` over HTTP with Starlette's TestClient (the real application, in process), on a home
written with vtp's record classes and the real registry (`support.history`): every page,
the 404s, GET only, the Host check, and no file served from outside the home."""

from __future__ import annotations

import os
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from support import history as h

from vtp.ui.app import create_app

SVG = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture
def written(tmp_path: Path):
    return h.write_home(tmp_path / "home")


@pytest.fixture
def client(written) -> TestClient:
    return TestClient(create_app(written), base_url="http://127.0.0.1")


def svgs(html: str, kind: str) -> list[ET.Element]:
    """The inline `<svg data-plot=kind>` elements of a page, parsed."""
    out, start = [], 0
    while (i := html.find("<svg", start)) >= 0:
        j = html.find("</svg>", i) + len("</svg>")
        element = ET.fromstring(html[i:j])
        if element.get("data-plot") == kind:
            out.append(element)
        start = j
    return out


def test_root_redirects_to_runs(client):
    r = client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/runs")


def test_runs_page_lists_runs_with_links_and_filters(client):
    r = client.get("/runs")
    assert r.status_code == 200
    assert "script-src" not in r.headers["content-security-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    for run_id in (h.TRAIN_RUN, h.FAILED_RUN, h.REGRESSION_RUN, h.TUNING_RUN):
        assert f'href="/runs/{run_id}"' in r.text
    assert "/models/classifier-model/versions/1" in r.text
    failed = client.get("/runs", params={"state": "FAILED"}).text
    assert h.FAILED_RUN in failed and h.TRAIN_RUN not in failed
    assert h.REGRESSION_RUN not in client.get("/runs", params={"pipeline": "training"}).text
    texts = client.get("/runs", params={"q": "sample://r"}).text
    assert h.REGRESSION_RUN in texts and h.TRAIN_RUN not in texts
    assert "No runs match these filters" in client.get("/runs", params={"q": "zzz"}).text


def test_run_page_graph_steps_plots_and_parameters(client):
    r = client.get(f"/runs/{h.TRAIN_RUN}")
    assert r.status_code == 200
    [graph] = svgs(r.text, "dag")
    nodes = [a for a in graph.iter() if a.get("class") == "node"]
    assert {n.get("data-step") for n in nodes} == {
        "load-dataset",
        "training-job-spec",
        "custom-training-job",
        "evaluate-model",
        "condition-1",
        "model-upload",
    }
    assert all(n.get("href").startswith(f"/runs/{h.TRAIN_RUN}/steps/") for n in nodes)
    assert len(svgs(r.text, "confusion-matrix")) == 1
    [roc] = svgs(r.text, "roc")
    assert len([c for c in roc.iter() if c.get("class") == "point"]) == 4
    assert "learning_rate" in r.text and "sample://x.csv" in r.text
    assert 'href="/models/classifier-model/versions/1"' in r.text


def test_failed_run_shows_the_error_and_the_log_tail(client):
    r = client.get(f"/runs/{h.FAILED_RUN}")
    assert "replica workerpool0-0 exited with code 1" in r.text
    assert "ValueError: bad learning rate" in r.text
    assert 'data-state="NOT_TRIGGERED"' in r.text


def test_step_page_inputs_outputs_and_log(client):
    r = client.get(f"/runs/{h.TRAIN_RUN}/steps/load-dataset")
    assert r.status_code == 200
    assert "loading sample://x.csv" in r.text and "wrote 460 rows" in r.text
    link = f"/files/gcs/local-pipeline-root/{h.TRAIN_RUN}/load-dataset/train"
    assert f'href="{link}"' in r.text
    assert client.get(link).text == "a,b\n1,2\n"
    evaluate = client.get(f"/runs/{h.TRAIN_RUN}/steps/evaluate-model").text
    assert len(svgs(evaluate, "roc")) == 1
    log = client.get(f"/runs/{h.TRAIN_RUN}/log", params={"step": "load-dataset"})
    assert log.headers["content-type"].startswith("text/plain")
    assert log.text == "loading sample://x.csv\nwrote 460 rows\n"
    assert client.get(f"/runs/{h.TRAIN_RUN}/log").text == "run log\n"


def test_step_in_a_group_is_reached_by_its_path(client):
    r = client.get(f"/runs/{h.TRAIN_RUN}/steps/" + urllib.parse.quote("model-upload", safe=""))
    assert r.status_code == 200 and "uploaded" in r.text


def test_regression_run_plots(client):
    r = client.get(f"/runs/{h.REGRESSION_RUN}")
    [pva] = svgs(r.text, "predicted-vs-actual")
    assert len([c for c in pva.iter() if c.get("class") == "point"]) == 6
    assert len(svgs(r.text, "residuals")) == 1 and len(svgs(r.text, "residual-histogram")) == 1
    assert "residual_mean" in r.text


def test_tuning_pages(client):
    assert f'href="/tuning/{h.TUNING_JOB}"' in client.get("/tuning").text
    r = client.get(f"/tuning/{h.TUNING_JOB}")
    assert r.status_code == 200
    rows = r.text.split('<tr class="')[1:]
    assert [row.split('data-trial="')[1].split('"')[0] for row in rows] == ["2", "1", "3"]
    assert rows[0].startswith("best") and "★ best" in rows[0]
    [parallel] = svgs(r.text, "parallel-coordinates")
    assert len([p for p in parallel.iter() if "trial" in (p.get("class") or "")]) == 3
    assert f'href="/runs/{h.TUNING_RUN}"' in r.text


def test_model_pages_and_lineage(client):
    models = client.get("/models").text
    assert 'href="/models/classifier-model"' in models
    model = client.get("/models/classifier-model").text
    assert "version 2" in model and "default, champion" in model
    v1 = client.get("/models/classifier-model/versions/1").text
    assert f'id="lineage-run" href="/runs/{h.TRAIN_RUN}"' in v1
    assert "vtp-trainer:0.1.0" in v1 and "learning_rate=0.1" in v1 and "custom job 42" in v1
    assert len(svgs(v1, "confusion-matrix")) == 1
    v2 = client.get("/models/classifier-model/versions/2").text
    assert f"trial 2 of tuning job {h.TUNING_JOB}" in v2 and "learning_rate=0.12" in v2


def test_compare_two_runs(client):
    picker = client.get("/compare")
    assert picker.status_code == 200 and '<select name="a">' in picker.text
    r = client.get("/compare", params={"a": h.TRAIN_RUN, "b": h.REGRESSION_RUN})
    assert r.status_code == 200
    metrics = {"auc", "accuracy", "test_rows", "rmse", "mae", "r2", "residual_mean"}
    assert r.text.count('class="metric"') == len(metrics)
    assert len(svgs(r.text, "roc")) == 1 and len(svgs(r.text, "predicted-vs-actual")) == 1
    assert 'class="changed"' in r.text  # data_source differs


@pytest.mark.parametrize(
    "url",
    [
        "/runs/nope",
        f"/runs/{h.TRAIN_RUN}/steps/nope",
        "/runs/nope/log",
        f"/runs/{h.TRAIN_RUN}/log?step=nope",
        "/tuning/999",
        "/models/nope",
        "/models/classifier-model/versions/9",
        "/compare?a=nope&b=nope",
        "/no/such/page",
        "/files/no-such-file",
    ],
)
def test_clear_404s(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert 'id="not-found"' in r.text


@pytest.mark.parametrize(
    "path",
    [
        "/files/../../../../etc/passwd",
        "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/files/..%2f..%2f..%2fetc%2fpasswd",
        "/files/%252e%252e/%252e%252e/etc/passwd",
        "/files//etc/passwd",
        "/files/runs/../../outside.txt",
        "/files/link-out",
        "/files/runs/link-dir/outside.txt",
        "/runs/..%2f..%2foutside.txt",
        f"/runs/{h.TRAIN_RUN}/steps/..%2f..%2f..%2foutside.txt",
    ],
)
def test_nothing_outside_the_home_is_served(written, client, path):
    outside = written.root.parent / "outside.txt"
    outside.write_text("SECRET")
    os.symlink(outside, written.root / "link-out")
    os.symlink(written.root.parent, written.root / "runs" / "link-dir")
    r = client.get(path)
    assert r.status_code == 404
    assert "SECRET" not in r.text and "root:" not in r.text


def test_a_log_path_recorded_outside_the_home_is_not_read(written, client):
    import json

    secret = written.root.parent / "elsewhere.log"
    secret.write_text("SECRET")
    path = written.runs / h.TRAIN_RUN / "run.json"
    data = json.loads(path.read_text())
    data["tasks"]["load-dataset"]["log"] = str(secret)
    path.write_text(json.dumps(data))
    page = client.get(f"/runs/{h.TRAIN_RUN}/steps/load-dataset")
    assert page.status_code == 200 and "SECRET" not in page.text
    assert (
        client.get(f"/runs/{h.TRAIN_RUN}/log", params={"step": "load-dataset"}).status_code == 404
    )


def test_directory_listing_hides_symlinks_that_lead_out(written, client):
    os.symlink(written.root.parent, written.root / "link-out")
    r = client.get("/files")
    assert r.status_code == 200 and "runs/" in r.text and "link-out" not in r.text


def test_html_files_are_sandboxed_and_binary_files_downloaded(written, client):
    report = written.root / "gcs" / "report.html"
    report.write_text("<html><script>alert(1)</script></html>")
    r = client.get("/files/gcs/report.html")
    assert r.headers["content-type"].startswith("text/html")
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    db = client.get("/files/registry.db")
    assert db.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get(client, method):
    assert client.request(method, "/runs").status_code == 405
    assert client.request(method, f"/runs/{h.TRAIN_RUN}").status_code == 405


def test_head_is_answered(client):
    assert client.head("/runs").status_code == 200


def test_a_foreign_host_header_is_refused(client):
    """A page on another site cannot read the UI through DNS rebinding: its requests carry
    that site's name as Host."""
    assert client.get("/runs", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/runs", headers={"host": "localhost:8765"}).status_code == 200
    for loopback in ("[::1]:8765", "[::1]", "127.0.0.1:8765", "LOCALHOST"):
        assert client.get("/runs", headers={"host": loopback}).status_code == 200, loopback
    for foreign in ("[::2]:8765", "[::1", "127.0.0.1.evil.example", "evil.example:8765", ""):
        assert client.get("/runs", headers={"host": foreign}).status_code == 400, foreign


def test_pages_escape_what_the_records_hold(written, client):
    import json

    path = written.runs / h.TRAIN_RUN / "run.json"
    data = json.loads(path.read_text())
    data["params"]["note"] = "<script>alert(1)</script>"
    data["tasks"]["evaluate-model"]["error"] = "<img src=x onerror=alert(1)>"
    path.write_text(json.dumps(data))
    r = client.get(f"/runs/{h.TRAIN_RUN}")
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert "<img src=x" not in r.text


def test_nothing_is_written_to_the_home(written, client):
    before = {p: p.stat().st_mtime_ns for p in written.root.rglob("*") if p.is_file()}
    for url in (
        "/runs",
        f"/runs/{h.ABANDONED_RUN}",
        f"/runs/{h.TRAIN_RUN}",
        "/models",
        "/models/classifier-model/versions/2",
        f"/tuning/{h.TUNING_JOB}",
    ):
        assert client.get(url).status_code == 200
    after = {p: p.stat().st_mtime_ns for p in written.root.rglob("*") if p.is_file()}
    changed = {p for p in before if after.get(p) != before[p]}
    assert {p for p in changed if not p.name.startswith("registry.db-")} == set()
    assert set(after) - set(before) <= {
        written.root / "registry.db-shm",
        written.root / "registry.db-wal",
    }


def test_a_running_run_page_refreshes_itself(written, client):
    import json

    from vtp.local.orchestrator.records import process_start_time

    path = written.runs / h.ABANDONED_RUN / "run.json"
    data = json.loads(path.read_text())
    data.update(pid=os.getpid(), pid_start=process_start_time(os.getpid()))  # this process
    path.write_text(json.dumps(data))
    running = client.get(f"/runs/{h.ABANDONED_RUN}").text
    assert '<meta http-equiv="refresh" content="5">' in running
    assert 'id="run-state">RUNNING' in running
    assert 'http-equiv="refresh"' not in client.get(f"/runs/{h.TRAIN_RUN}").text
