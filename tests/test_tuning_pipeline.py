"""The whole tuning pipeline run locally from its compiled YAML: trials, best trial, final model
and champion/challenger against a real SQLite registry (real trainer processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vtp.home import LocalHome
from vtp.local.registry import LocalModelRegistry
from vtp.local.run import run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-tuning")]
NAME = "breast-cancer-classifier"
REPO = Path(__file__).resolve().parents[1]


def _aliases(registry: LocalModelRegistry) -> dict[str, set[str]]:
    return {v.version_id: set(v.version_aliases) for v in registry.list_versions(NAME)}


def test_first_model_then_champion_keeps_then_challenger_wins_with_retrain(tmp_path, monkeypatch):
    home = LocalHome(tmp_path / "home")
    base = {"project": "p", "max_trial_count": 2, "parallel_trial_count": 2}

    monkeypatch.setenv("VTP_TUNING_SEED", "7")  # reaches the tuning step's process
    first = run_pipeline("tuning", base, home=home, out=sys.stderr)
    monkeypatch.delenv("VTP_TUNING_SEED")
    assert first.state == "SUCCEEDED"
    (job,) = [json.loads(p.read_text()) for p in (tmp_path / "home" / "tuning").glob("*/job.json")]
    assert job["seed"] == 7 and job["sampler"] == "GaussianProcessSampler"
    trials = first.tasks["get-trials"].outputs["Output"]
    assert len(trials) == 2 and all(json.loads(t)["state"] == 4 for t in trials)
    best = json.loads(first.tasks["get-best-trial"].outputs["Output"])
    assert best["id"] in {"1", "2"}
    report = first.tasks["trials-report"].outputs["report"]["uri"]
    assert "<svg" in (home.gcs_root / report[len("gs://") :]).read_text()
    assert "challenger-decision" not in first.tasks  # no champion: the first-model branch
    registry = LocalModelRegistry(home.registry_db, project="p")
    assert _aliases(registry) == {"1": {"default", "champion"}}
    assert registry.get(f"{NAME}@1").artifact_uri.endswith(f"/tuning-job/{best['id']}/model")

    # a challenger that must beat the champion by a full AUC point cannot: champion stays
    second = run_pipeline("tuning", {**base, "min_improvement": 1.0}, home=home, out=sys.stderr)
    assert second.tasks["challenger-decision"].outputs["Output"] == "champion"
    assert _aliases(registry) == {"1": {"default", "champion"}, "2": {"challenger"}}

    # a weak champion (one boosting stage on two leaves) takes `default`...
    weak = tmp_path / "weak-model"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.task",
            "--max-iter=1",
            "--max-leaf-nodes=2",
            f"--training-data={home.gcs_root}/{first.tasks['load-dataset'].outputs['train']['uri'][5:]}",
            f"--model-dir={weak}/",
        ],
        check=True,
        capture_output=True,
        cwd=REPO / "trainers",
        env={**os.environ, "CLOUD_ML_HP_METRIC_FILE": str(tmp_path / "weak.metrics")},
    )
    registry.upload(
        display_name=NAME,
        artifact_uri=str(weak),
        container_spec={"imageUri": "srv"},
        parent_model=NAME,
        version_aliases=["champion"],
    )
    assert _aliases(registry)["3"] == {"default", "champion"}
    # ...and a challenger re-trained on train + validation with the best values beats it
    third = run_pipeline("tuning", {**base, "final_model": "retrain"}, home=home, out=sys.stderr)
    assert third.tasks["custom-training-job"].status == "SUCCEEDED"
    assert third.tasks["merge-datasets"].outputs["Output"] == sum(
        third.tasks["load-dataset"].outputs[s]["metadata"]["row_count"]
        for s in ("train", "validation")
    )
    assert third.tasks["challenger-decision"].outputs["Output"] == "challenger"
    assert _aliases(registry) == {
        "1": set(),
        "2": {"challenger"},
        "3": set(),
        "4": {"default", "champion"},
    }
    assert registry.get(NAME).artifact_uri.endswith("/final-training/model")
