"""`docs/bring-your-own-trainer.md`, run command by command through the real `vtp` CLI.

The page's files (`my_trainer/task.py`, `my_trainer/requirements.txt`) are written into a
scratch working directory holding a copy of `data/`, its `export` applied, and every `$ vtp`
line of its console blocks run there in order as a subprocess: real packaging, a real cached
environment, real kfp.local runs. Every output line the page shows must be printed (by form:
ids, times and durations vary). The `--upload` step goes to the gcp-storage-emulator
(`tests/standins/gcs.py`), not Google, and the test reads the object back from it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.doc_commands import exports, files, missing_lines, shown_commands

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bring-your-own-trainer.md"
DOC_WORKDIR = "/tmp/byot"


def test_the_page_writes_the_trainer_and_runs_vtp_only():
    text = DOC.read_text()
    assert set(files(text)) == {"my_trainer/task.py", "my_trainer/requirements.txt"}
    assert [c.argv[:2] for c in shown_commands(text)] == [
        ["run", "training"],
        ["trainer", "package"],
        ["run", "tuning"],
        ["run", "training"],
        ["run", "training"],
        ["models", "show"],
        ["trainer", "package"],
    ]
    assert set(exports(text)) == {"VTP_IMAGE_COMMANDS"}


def test_every_command_of_the_page(tmp_path):
    from standins.gcs import gcs_emulator

    text = DOC.read_text()
    work = tmp_path / "byot"
    (work / "data").mkdir(parents=True)
    shutil.copy(REPO / "data" / "breast_cancer.csv", work / "data")
    for path, body in files(text).items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(body)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VTP_HOME", "VTP_RUNTIME", "VTP_IMAGE_COMMANDS", "VTP_STAGING_URI")
    }
    env["PYTHONUNBUFFERED"] = "1"
    later = exports(text)  # applied before the first command that maps an image

    with gcs_emulator("my-proj-vtp") as gcs:
        env["STORAGE_EMULATOR_HOST"] = gcs.host
        for shown in shown_commands(text):
            if any(a.startswith("trainer_image=") for a in shown.argv):
                env.update(later)
            proc = subprocess.run(
                [sys.executable, "-m", "vtp", *shown.argv],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            printed = (proc.stderr + proc.stdout).replace(str(work), DOC_WORKDIR)
            command = f"vtp {shlex.join(shown.argv)}"
            assert proc.returncode == (2 if shown.expects_error else 0), f"{command}\n{printed}"
            missing = missing_lines(shown, printed)
            assert not missing, (
                f"`{command}` no longer prints what the page shows:\n"
                + "\n".join(missing)
                + f"\n--- it printed:\n{printed}"
            )
        uploaded = [b.name for b in gcs.client().list_blobs("my-proj-vtp")]
    assert uploaded == ["trainers/279dc8eac17cbf0d/aiplatform_custom_trainer_script-0.1.tar.gz"], (
        uploaded
    )
    assert (work / "vertex-trainer.yaml").is_file()
    assert sorted(p.name for p in work.iterdir()) == [
        ".vtp",
        "data",
        "my_trainer",
        "trainer.yaml",
        "vertex-trainer.yaml",
    ]
