"""Standby steps: a lightweight component's imports, recorded when it succeeds, are made
again by a standby child of the zygote while the steps before it run, in the step's own
environment and with its output kept. Real runs of compiled pipelines, real processes; the
overlap is read from recorded times, never from elapsed time.
"""

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from kfp import dsl
from support.pipelines import compile_pipeline, run_json, when
from support.waiting import wait_until

from vtp.home import LocalHome
from vtp.local.orchestrator import warm_imports
from vtp.local.orchestrator.steps import Zygote
from vtp.local.run import run_pipeline

#: A module whose import leaves a trace (when, in which process, with what environment) and
#: does what libraries do on import: set an environment variable, configure logging.
PROBE = """\
import logging
import os
import time

IMPORTED_AT = time.time()
PID = os.getpid()
SEEN_VARIABLE = os.environ.get("WARM_PROBE_VARIABLE", "")
os.environ.setdefault("WARM_PROBE_SET", "by-import")
logging.basicConfig(level=logging.WARNING)
print("warm_probe imported", flush=True)
"""


def _component(func):
    return dsl.component(func, base_image="python:3.11", install_kfp_package=False)


@_component
def first(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "done"


@_component
def second(after: str) -> str:
    import json
    import os
    import sys

    preloaded = "warm_probe" in sys.modules
    import warm_probe

    return json.dumps(
        {
            "after": after,
            "preloaded": preloaded,
            "imported_at": warm_probe.IMPORTED_AT,
            "same_process": os.getpid() == warm_probe.PID,
            "variable": warm_probe.SEEN_VARIABLE,
            "set_by_import": os.environ.get("WARM_PROBE_SET"),
        }
    )


@dsl.pipeline(name="warm")
def warm(seconds: float = 1.0):
    second(after=first(seconds=seconds).output)


@pytest.fixture
def probe_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "warm_probe.py").write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.setenv("WARM_PROBE_VARIABLE", "from-the-run")
    return folder


def _events(home: Path, run_id: str) -> list[dict]:
    path = home / "runs" / run_id / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _second(home: Path, run_id: str) -> tuple[dict, dict]:
    record = run_json(home, run_id)
    task = record["tasks"]["second"]
    return json.loads(task["outputs"]["Output"]), record


def test_the_second_run_imports_ahead_while_the_step_before_runs(tmp_path, probe_path):
    path = compile_pipeline(warm, tmp_path)
    home = LocalHome(tmp_path / "home")

    cold = run_pipeline(path, {}, home=home, out=None)
    seen, _ = _second(home.root, cold.run_id)
    assert seen["preloaded"] is False  # nothing recorded yet: the step imports it itself
    recorded = list((home.cache_root / warm_imports.IMPORTS_DIR).glob("*.json"))
    assert any("warm_probe" in json.loads(p.read_text()) for p in recorded)

    hot = run_pipeline(path, {}, home=home, out=None)
    seen, record = _second(home.root, hot.run_id)
    assert seen["preloaded"] is True and seen["same_process"] is True
    assert seen["variable"] == "from-the-run"  # imported in the step's own environment
    # imported while `first` ran, before `second` started: the import overlapped it
    started_first = when(record["tasks"]["first"]["started"])
    started_second = when(record["tasks"]["second"]["started"])
    assert started_first <= seen["imported_at"] <= started_second
    # what the module printed as it was imported is in the step's log, as in a new process;
    # it found logging as KFP's executor sets it up first (the executor's lines are kept),
    # and what it set in the environment stayed
    log = Path(record["tasks"]["second"]["log"]).read_text()
    assert "warm_probe imported" in log and "[KFP Executor" in log
    assert seen["set_by_import"] == "by-import"
    started = [e for e in _events(home.root, hot.run_id) if e["kind"] == "standby_started"]
    assert [e["task"] for e in started] == ["second"]
    # the request and set-up files (they hold the step's environment) are gone
    work = home.root / "runs" / hot.run_id / "work"
    assert not list(work.glob("*/zygote-*.json"))


@dsl.pipeline(name="warm-cached")
def warm_cached(seconds: float = 1.0):
    second(after=first(seconds=seconds).set_caching_options(False).output)


def test_a_standby_whose_task_is_served_from_the_cache_is_ended(tmp_path, probe_path):
    path = compile_pipeline(warm_cached, tmp_path)
    home = LocalHome(tmp_path / "home")
    run_pipeline(path, {}, home=home, out=None, cache=True)
    cached = run_pipeline(path, {}, home=home, out=None, cache=True)
    record = run_json(home.root, cached.run_id)
    assert record["tasks"]["second"]["state"] == "CACHED"
    events = _events(home.root, cached.run_id)
    made = {e["pid"] for e in events if e["kind"] == "standby_started"}
    ended = {e["pid"] for e in events if e["kind"] == "standby_ended"}
    assert made and made == ended
    assert not any(_alive(pid) for pid in made)


@_component
def echo(after: str) -> str:
    return after


@dsl.pipeline(name="cold")
def cold(seconds: float = 0.5):
    echo(after=first(seconds=seconds).output)


def test_no_standby_runs_each_step_with_its_own_imports(tmp_path, probe_path):
    path = compile_pipeline(warm, tmp_path)
    home = LocalHome(tmp_path / "home")
    run_pipeline(path, {}, home=home, out=None)
    off = run_pipeline(path, {}, home=home, out=None, standby=False)
    seen, record = _second(home.root, off.run_id)
    assert seen["preloaded"] is False and record["options"]["standby"] is False
    assert not [e for e in _events(home.root, off.run_id) if e["kind"] == "standby_started"]


def test_a_step_with_nothing_to_import_gets_no_standby(tmp_path):
    path = compile_pipeline(cold, tmp_path)
    home = LocalHome(tmp_path / "home")
    for _ in range(2):  # `echo` imports nothing beyond the zygote's, then or now
        run = run_pipeline(path, {}, home=home, out=None)
        work = home.root / "runs" / run.run_id / "work"
        assert not (work / "echo" / "zygote-standby.json").exists()


def test_the_imports_a_function_starts_with_are_made_ahead():
    from vtp.local.orchestrator.executors import PythonExecutor

    source = '''
import os

def helper():
    import secrets

def f(x: int):
    """Docs."""
    import json
    from email.mime import text as mime_text
    from . import sibling
    import csv, zlib
    if x:
        import tomllib
    import wave
'''
    executor = PythonExecutor(
        source=source, args=["--function_to_execute", "f"], env={}, packages=[]
    )
    # up to the first statement that is not an import: later ones may depend on the inputs
    assert executor.body_imports == ["json", "email.mime", "csv", "zlib"]
    broken = PythonExecutor(
        source="def f(:", args=["--function_to_execute", "f"], env={}, packages=[]
    )
    assert broken.body_imports == []


def test_recorded_lists_are_per_component_and_unreadable_ones_are_ignored(tmp_path):
    key = warm_imports.component_key("def f(): pass", "f")
    assert key != warm_imports.component_key("def f(): return 1", "f")
    assert warm_imports.load(tmp_path, key) == []
    recorded = tmp_path / "imports.json"
    recorded.write_text(json.dumps(["json", "csv"]))
    warm_imports.save(tmp_path, key, recorded)
    assert warm_imports.load(tmp_path, key) == ["json", "csv"]
    (tmp_path / warm_imports.IMPORTS_DIR / f"{key}.json").write_text("{not json")
    assert warm_imports.load(tmp_path, key) == []
    recorded.write_text('{"a": 1}')  # not a list: kept out
    warm_imports.save(tmp_path, key, recorded)
    assert warm_imports.load(tmp_path, key) == []


# --- the zygote's standbys, directly ---------------------------------------------------------

COMPONENT = """\
def f() -> str:
    import os
    import sys

    return f"{os.getpid()} {'warm_probe' in sys.modules}"
"""


def _argv(tmp_path: Path) -> list[str]:
    module = tmp_path / "component.py"
    module.write_text(COMPONENT)
    output = tmp_path / "executor_output.json"
    executor_input = {
        "inputs": {},
        "outputs": {
            "parameters": {"Output": {"outputFile": str(tmp_path / "Output")}},
            "outputFile": str(output),
        },
    }
    return [
        "--component_module_path",
        str(module),
        "--executor_input",
        json.dumps(executor_input),
        "--function_to_execute",
        "f",
    ]


@pytest.fixture
def zygote(probe_path):
    zygote = Zygote(dict(os.environ))
    assert zygote.wait_ready(lambda: False)
    yield zygote
    zygote.close()


class _Output:
    """A step's output, as `TaskLog` takes it from the pipe (in pieces)."""

    def __init__(self):
        self.text = ""

    def piece(self, text: str, first: bool, last: bool) -> None:
        self.text += text + ("\n" if last else "")

    def __call__(self, line: str) -> None:
        self.text += line + "\n"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_discarded_standby_ends_and_a_lost_one_is_replaced_by_a_new_fork(tmp_path, zygote):
    env = dict(os.environ)
    standby = zygote.prepare(env=env, cwd=tmp_path, preload=["warm_probe"], work_dir=tmp_path)
    assert standby is not None and _alive(standby.pid)
    zygote.discard(standby)
    wait_until(lambda: not _alive(standby.pid))

    lost = zygote.prepare(env=env, cwd=tmp_path, preload=["warm_probe"], work_dir=tmp_path)
    os.kill(lost.pid, signal.SIGKILL)
    wait_until(lambda: not _alive(lost.pid))
    output = _Output()
    step = zygote.spawn(
        _argv(tmp_path), env=env, cwd=tmp_path, sink=output, work_dir=tmp_path, standby=lost
    )
    assert step.wait(lambda: False) == 0
    pid, preloaded = json.loads((tmp_path / "executor_output.json").read_text())["parameterValues"][
        "Output"
    ].split()
    assert int(pid) == step.pid != lost.pid and preloaded == "False"  # a new fork ran it


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_discarded_standby_takes_what_its_imports_started_and_no_exit_is_kept(
    tmp_path, probe_path, zygote
):
    helper = tmp_path / "helper.pid"
    (probe_path / "spawning_probe.py").write_text(
        "import os, subprocess, sys\n"
        "proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(helper)!r}, 'w').write(str(proc.pid))\n"
    )
    env = dict(os.environ)
    standby = zygote.prepare(env=env, cwd=tmp_path, preload=["spawning_probe"], work_dir=tmp_path)
    helper_pid = int(wait_until(lambda: helper.exists() and helper.read_text()))
    assert _alive(helper_pid)
    zygote.discard(standby)
    wait_until(lambda: not _alive(helper_pid) and not _alive(standby.pid))
    # a later step's round trip: by its end the zygote has reported the standby's exit, which
    # is nobody's (a kept exit would be taken for a new step's that reuses the pid)
    step = zygote.spawn(_argv(tmp_path), env=env, cwd=tmp_path, sink=_Output(), work_dir=tmp_path)
    assert step.wait(lambda: False) == 0
    assert zygote._early_exits == {}  # the bookkeeping under test


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_standby_runs_the_request_with_its_imports_done(tmp_path, zygote):
    env = dict(os.environ)
    standby = zygote.prepare(env=env, cwd=tmp_path, preload=["warm_probe"], work_dir=tmp_path)
    output = _Output()
    profile = tmp_path / "imports.json"
    step = zygote.spawn(
        _argv(tmp_path),
        env=env,
        cwd=tmp_path,
        sink=output,
        work_dir=tmp_path,
        standby=standby,
        profile=profile,
    )
    assert step.wait(lambda: False) == 0 and step.pid == standby.pid
    pid, preloaded = json.loads((tmp_path / "executor_output.json").read_text())["parameterValues"][
        "Output"
    ].split()
    assert int(pid) == standby.pid and preloaded == "True"
    assert "warm_probe imported" in output.text
    assert "warm_probe" in json.loads(profile.read_text())


# --- nothing left behind ---------------------------------------------------------------------


@_component
def stdlib_second(after: str) -> str:
    import xml.dom.minidom

    return after + xml.dom.minidom.__name__


@dsl.pipeline(name="warm-stdlib")
def warm_stdlib(seconds: float = 0.0):
    stdlib_second(after=first(seconds=seconds).output)


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", ["SIGKILL", "SIGTERM"])
def test_a_standby_is_gone_whatever_stops_vtp(name, tmp_path):
    from support.faults import descendants, live, start_vtp, stop_if_running

    path = compile_pipeline(warm_stdlib, tmp_path)
    home = tmp_path / "home"
    first_run = run_pipeline(path, {}, home=LocalHome(home), out=None)  # records its imports
    vtp = start_vtp(path, home, "--param", "seconds=300")
    try:
        run_dir = wait_until(
            lambda: [p for p in home.glob("runs/*") if p.name != first_run.run_id]
        )[0]
        wait_until(lambda: (run_dir / "events.jsonl").exists())
        wait_until(lambda: "standby_started" in (run_dir / "events.jsonl").read_text())
        # the zygote, the running step and the standby of the next one
        owned = wait_until(lambda: (found := descendants(vtp.pid)) and len(found) >= 3 and found)
        vtp.send_signal(getattr(signal, name))
        vtp.communicate(timeout=60)
        wait_until(lambda: not live(owned))  # bounded by the test's timeout
        (event,) = [e for e in _events(home, run_dir.name) if e["kind"] == "standby_started"]
        assert event["task"] == "stdlib-second"
    finally:
        stop_if_running(vtp)
