"""`docs/laptop-to-vertex.md`, run command by command through the real `vtp` CLI.

Every `$ vtp ...` line of the doc's `console` blocks is run here, in the doc's order, in a
scratch working directory; every output line the doc shows must be printed by it (lines
holding `...` are trims and not compared; ports, digests, ids, dates, durations and the git
revision are compared by their form). The params file is the doc's `yaml` block.

Step 1 (`vtp run training --local`) is a real local run of the compiled training pipeline in a
subprocess. Steps 2-5 are the configuration (`vtp config`), an image dry run (this machine
has no Docker engine, as the doc says; with one, only the image URIs are compared), real
compilation and `vtp check`, in a scratch project holding the doc's `vtp.toml`. Steps 6-8
drive kfp's real RegistryClient and the real Vertex AI SDK against the loopback stand-ins in
`tests/standins/` (Artifact Registry, the Vertex AI REST API, the gcp-storage-emulator):
nothing reaches Google. The stand-ins record every request, which is how the test proves
that the template Vertex AI receives is the compiled file, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from vtp.cli.main import main

# a real local run, the stand-ins and the storage emulator: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "laptop-to-vertex.md"
#: Where the doc's outputs were captured: the working directory and the vtp source tree.
DOC_WORKDIR, DOC_REPO = "/tmp/walk", "/work/main"

PROJECT = "my-proj"
IMAGES = f"us-central1-docker.pkg.dev/{PROJECT}/images"
COMPONENT_IMAGE = f"{IMAGES}/vtp-components:0.1.0"
RUNNER = f"vtp-runner@{PROJECT}.iam.gserviceaccount.com"
PIPELINE_ROOT = f"gs://{PROJECT}-vtp/runs"

#: Parts of an output that differ from run to run, and the form they are compared by.
_FORMS = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:DIGEST"),
    (re.compile(r"training-\d{14}-[0-9a-f]{6}"), "training-RUN"),  # Vertex AI run ids
    (re.compile(r"training-\d{8}-\d{6}-[0-9a-f]{6}"), "training-RUN"),  # local run ids
    (re.compile(r"up to \d+ step"), "up to N step"),
    (re.compile(r"local-pipeline-root/[0-9a-f-]{36}/"), "local-pipeline-root/N/"),
    (re.compile(r"training-\d[\d-]{16,}\d"), "training-RUN"),  # local run ids and dirs
    (re.compile(r"\b\d{15,20}\b"), "ID"),  # model and schedule ids
    (re.compile(r"local-pipeline-root/\d+/"), "local-pipeline-root/N/"),
    (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?: [A-Z][a-z]{2} [A-Z]{3,4})?"), "TIME"),
    (re.compile(r"\b\d+(?:\.\d+)? s\b"), "N s"),
    (re.compile(r":[0-9a-f]{7,40}(?:-dirty)?\b"), ":REVISION"),  # image tags of the git revision
    (re.compile(r"\d+ files, \d+ tasks, \d+ payloads"), "N files, N tasks, N payloads"),
    (re.compile(r"\(\d+ values checked"), "(N values checked"),
    (re.compile(r"\s+"), " "),
]


def form(text: str) -> str:
    for pattern, replacement in _FORMS:
        text = pattern.sub(replacement, text)
    return text.strip()


@dataclass
class Shown:
    """One `$ vtp ...` of the doc and the output lines it shows."""

    argv: list[str]
    lines: list[str] = field(default_factory=list)


def shown_commands(text: str) -> list[Shown]:
    """The `$ vtp` commands of the doc's `console` blocks, in order (a trailing `\\` joins
    the next line)."""
    commands: list[Shown] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    i += 1
                    command = command[:-1] + lines[i].strip()
                argv = shlex.split(command)
                assert argv[0] == "vtp", f"the doc's console blocks run vtp only: {line}"
                commands.append(Shown(argv[1:]))
            elif commands:
                commands[-1].lines.append(line)
            i += 1
    return commands


def block_of_the_doc(language: str) -> str:
    """The doc's one code block in `language` (`toml`: vtp.toml, `yaml`: the params file)."""
    pattern = rf"^```{language}\n(.*?)^```"
    (block,) = re.findall(pattern, DOC.read_text(), re.MULTILINE | re.DOTALL)
    return block


class Walkthrough:
    """The doc's commands, checked off in order as the test runs them."""

    def __init__(self, *, steps: set[str]):
        self.pending = [c for c in shown_commands(DOC.read_text()) if c.argv[0] in steps]

    def expect(self, argv: list[str], code: int, printed: str, *, compare: bool = True) -> None:
        """`argv` must be the doc's next command; every line the doc shows for it must be in
        `printed` (unless `compare` is false)."""
        assert self.pending, f"the doc shows no more commands, ran `vtp {shlex.join(argv)}`"
        shown = self.pending.pop(0)
        assert [form(a) for a in argv] == [form(a) for a in shown.argv], (
            f"the doc's next command is `vtp {shlex.join(shown.argv)}`, the walkthrough ran "
            f"`vtp {shlex.join(argv)}`"
        )
        assert code == 0, f"`vtp {shlex.join(argv)}` exited {code}:\n{printed}"
        if not compare:
            return
        printed_forms = {form(line) for line in printed.splitlines()}
        missing = [
            line
            for line in shown.lines
            if line.strip() and "..." not in line and form(line) not in printed_forms
        ]
        assert not missing, (
            f"`vtp {shlex.join(argv)}` no longer prints what the doc shows:\n"
            + "\n".join(missing)
            + f"\n--- it printed:\n{printed}"
        )


def as_captured(text: str, workdir: Path) -> str:
    """`text` with this run's paths written as in the doc's capture."""
    return text.replace(str(workdir), DOC_WORKDIR).replace(str(REPO), DOC_REPO)


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def row(table: str, first: str) -> list[str]:
    """The fields of the one row of `table` that starts with `first`."""
    (line,) = [line for line in table.splitlines() if line.startswith(first + " ")]
    return line.split()


def lines_with(text: str, pattern: str) -> list[str]:
    return [line for line in text.splitlines() if re.fullmatch(pattern, line)]


STEPS = {"run", "config", "image", "compile", "check", "publish", "submit", "schedule"}


def test_the_doc_shows_only_commands_the_walkthrough_runs():
    shown = shown_commands(DOC.read_text())
    assert shown[0].argv == ["run", "training", "--local"]
    assert {c.argv[0] for c in shown} == STEPS
    assert all(c.lines for c in shown), "every command shows its output"


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-walkthrough")
def test_step_1_local_run_trains_and_registers_the_model(tmp_path):
    """`vtp run training --local` in an empty directory (the default data source is the
    sample shipped in the vtp package): the summary the doc shows, from a real local run."""
    env = {k: v for k, v in os.environ.items() if k not in ("VTP_HOME", "VTP_RUNTIME")}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    walk = Walkthrough(steps={"run"})
    argv = ["run", "training", "--local"]
    proc = subprocess.run(
        [sys.executable, "-m", "vtp", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    printed = as_captured(proc.stderr + proc.stdout, tmp_path)
    walk.expect(argv, proc.returncode, printed)
    assert walk.pending == []

    out = proc.stdout
    assert lines_with(out, r"run      training-[\da-f-]+  \(SUCCEEDED, [\d.]+ s\)")
    assert "gate     pass" in out.splitlines()
    (model,) = lines_with(out, r"model    projects/local-project/locations/us-central1/.*")
    assert re.fullmatch(
        r"model    projects/local-project/locations/us-central1/models/\d+@1  "
        r"'breast-cancer-classifier' version 1, aliases: default",
        model,
    )
    assert (tmp_path / ".vtp" / "registry.db").is_file()  # the default home: ./.vtp


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A scratch project directory holding the doc's `vtp.toml`, with none of the user's
    environment."""
    for name in (
        *("VTP_HOME", "VTP_LOCATION", "VTP_RUNTIME", "VTP_VERTEX_ENDPOINT", "VTP_CONFIG"),
        *("GOOGLE_CLOUD_PROJECT", "VTP_REGISTRY", "VTP_PIPELINE_ROOT", "VTP_SERVICE_ACCOUNT"),
        *("VTP_REPOSITORY", "VTP_COMPILED", "VTP_COMPONENT_IMAGE", "VTP_TRAINER_IMAGES"),
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vtp.toml").write_text(block_of_the_doc("toml"))
    return tmp_path


def test_steps_2_to_8_configure_images_compile_check_publish_submit_schedule(
    workdir, monkeypatch, capsys
):
    """From `vtp config` to a paused and resumed schedule, in the doc's order. The template
    Vertex AI receives (run and schedule) is the file compiled in step 4, with the configured
    images: its sha256 is the version the requests name, and the spec they carry is that
    file's."""
    from standins.artifact_registry import ArtifactRegistryStandIn
    from standins.gcs import gcs_emulator
    from standins.vertex_api import VertexStandIn

    from vtp.local.docker_runtime import engine_problem

    walk = Walkthrough(steps=STEPS - {"run"})

    def vtp(*argv: str, compare: bool = True) -> str:
        code = main(list(argv))
        captured = capsys.readouterr()
        walk.expect(
            list(argv), code, as_captured(captured.err + captured.out, workdir), compare=compare
        )
        return captured.out

    # 2. the configuration, and where each value comes from
    out = vtp("config")
    assert re.search(rf"^registry +{IMAGES} +{workdir / 'vtp.toml'}$", out, re.MULTILINE)

    # 3. images: a dry run (no Docker engine here), pushed to the configured registry
    no_engine = engine_problem() is not None
    out = vtp("image", "push", "all", "--dry-run", compare=no_engine)
    assert f"  components           {COMPONENT_IMAGE}" in out.splitlines()

    # 4. compile with the configured images, and check compiled/ is what the source compiles to
    out = vtp("compile")
    assert "wrote compiled/pipelines/training.yaml" in out.splitlines()
    compiled = workdir / "compiled/pipelines/training.yaml"
    text = compiled.read_text()
    template = (REPO / "compiled/pipelines/training.yaml").read_text()
    assert f"image: {COMPONENT_IMAGE}\n" in text and "image: vtp-components:" not in text
    assert f"defaultValue: {IMAGES}/vtp-trainer:0.1.0\n" in text
    assert text.replace(f"{IMAGES}/", "") == template  # the images are the only change
    assert vtp("compile", "--check") == "compiled/ is up to date\n"

    # 5. every Vertex payload of compiled/, its images, and what the local orchestrator refuses
    assert ": 0 problems, 0 warnings" in vtp("check", "--local")

    (workdir / "vertex.yaml").write_text(block_of_the_doc("yaml"))
    params = yaml.safe_load(block_of_the_doc("yaml"))

    with (
        ArtifactRegistryStandIn() as registry,
        gcs_emulator(project=PROJECT) as gcs,
        VertexStandIn(project=PROJECT, running_gets=3) as vertex,
    ):
        monkeypatch.setenv("VTP_VERTEX_ENDPOINT", vertex.endpoint)
        host = registry.host_for(PROJECT, "pipelines")

        # 6. publish the compiled template
        out = vtp("publish", "training", "--host", host)
        version = sha256(compiled)
        assert registry.versions(PROJECT, "pipelines", "training") == [version]
        assert registry.content(PROJECT, "pipelines", "training", version) == compiled.read_bytes()
        urls = re.findall(rf"{re.escape(host)}/training/\S+", out)
        assert urls == [f"{host}/training/{ref}" for ref in ("0.1.0", "latest", version)]
        pinned, latest = urls[2], urls[1]

        # 7. run it on (the stand-in of) Vertex AI, and follow it
        run_options = ["--params", "vertex.yaml"]  # pipeline root, service account: vtp.toml
        out = vtp("submit", pinned, *run_options, "--wait", "--poll-interval", "2")
        (create,) = vertex.calls("POST", "/pipelineJobs")
        job = create.message
        assert job.template_uri == pinned
        assert job.template_metadata.version == version
        assert create.body["pipelineSpec"] == yaml.safe_load(compiled.read_text())
        assert dict(job.runtime_config.parameter_values) == {
            **params,
            "project": PROJECT,
            "location": "us-central1",
        }
        assert job.runtime_config.gcs_output_directory == PIPELINE_ROOT
        assert job.service_account == RUNNER
        job_id = create.query["pipelineJobId"][0]
        name = f"projects/{PROJECT}/locations/us-central1/pipelineJobs/{job_id}"
        assert out.splitlines()[0] == f"run      {name}"
        assert out.splitlines()[-1] == "state    SUCCEEDED"
        assert vertex.pipeline_job(name).state.name == "PIPELINE_STATE_SUCCEEDED"
        # the SDK created the pipeline root's bucket and let the service account write to it
        members = gcs.iam_members(f"{PROJECT}-vtp")
        assert f"serviceAccount:{RUNNER}" in members["roles/storage.objectCreator"]

        # 8. schedule it, list, pause, resume
        cron = "TZ=Europe/Paris 0 6 * * mon-fri"
        out = vtp(
            *("schedule", "create", latest, "--cron", cron),
            *("--display-name", "weekday-training", *run_options),
        )
        (created,) = vertex.calls("POST", "/schedules")
        sent = created.message.create_pipeline_job_request.pipeline_job
        assert sent.template_uri == latest
        assert sent.template_metadata.version == version  # `latest` resolved once, here
        body = created.body["createPipelineJobRequest"]["pipelineJob"]
        assert body["pipelineSpec"] == yaml.safe_load(compiled.read_text())
        lines = out.splitlines()
        schedule = lines[0].removeprefix("schedule   ")
        schedule_id = schedule.rsplit("/", 1)[-1]
        assert re.fullmatch(rf"projects/{PROJECT}/locations/us-central1/schedules/\d+", schedule)
        assert lines[3] == f"cron       {cron}  (Europe/Paris)"
        fire = (
            r"\d{4}-\d{2}-\d{2} 06:00 (Mon|Tue|Wed|Thu|Fri) CES?T "
            r"\((\d{4}-\d{2}-\d{2} 0[45]:00) UTC\)"
        )
        next_runs = [re.fullmatch(rf"(?:next runs| {{9}})  {fire}", line) for line in lines[4:]]
        assert len(next_runs) == 5 and all(next_runs), lines[4:]
        first_utc = next_runs[0].group(2)
        stored = vertex.schedule(schedule)
        assert stored.next_run_time.strftime("%Y-%m-%d %H:%M") == first_utc

        listed = row(vtp("schedule", "list"), schedule_id)
        assert listed[1:3] == ["weekday-training", "ACTIVE"]
        assert " ".join(listed[-3:-1]) == first_utc  # NEXT RUN (UTC)
        paused = vtp("schedule", "pause", schedule_id)
        assert paused == f"paused   {schedule}  (weekday-training)\n"
        assert vertex.schedule(schedule).state.name == "PAUSED"
        listed = row(vtp("schedule", "list"), schedule_id)
        assert listed[2] == "PAUSED" and listed[-2] == "-"
        resumed = vtp("schedule", "resume", schedule_id)
        assert resumed == f"active   {schedule}  (weekday-training)\n"
        assert vertex.schedule(schedule).state.name == "ACTIVE"
        assert [c.path.rsplit(":", 1)[-1] for c in vertex.calls("POST", ":")] == [
            "pause",
            "resume",
        ]
    assert walk.pending == []
