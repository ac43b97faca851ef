"""The wheel carries what vtp needs, and installs nothing but `vtp`.

The slow test builds the wheel (`python -m build`) from a copy of the source tree, makes a fresh
virtual environment outside the checkout and `pip install`s the wheel there: its declared
dependencies are resolved from the package index like any user's install (pip's own HTTP cache
may serve them; nothing is copied from this environment). In a project directory of its own,
that environment then runs `vtp list`, `vtp run training --local`, `vtp compile --out DIR`
and `vtp check`, and imports vtp's pipelines next to a `pipelines` package of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What the build needs from the source tree (the package-dir folders and the metadata).
SOURCES = ("pyproject.toml", "README.md", "vtp", "components", "pipelines", "compiled", "data")
SOURCES += ("trainers",)

#: A team's own repository layout: a top-level `pipelines` package.
TEAM_PIPELINES = '"""The team\'s own pipelines."""\nOWNER = "team"\n'
IMPORT_BOTH = """
import pipelines
from vtp.pipelines import training

assert pipelines.OWNER == "team", pipelines.__file__
training.build()
print("team", pipelines.__file__)
print("vtp", training.__file__)
"""


def build_wheel(tmp: Path) -> Path:
    """`python -m build --wheel` of a copy of the source tree (the checkout gets no build/)."""
    source = tmp / "source"
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, source / name)
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("vtp-*.whl")
    return wheel


@pytest.mark.slow  # a fresh interpreter
def test_a_directory_with_its_own_pipelines_package_imports_vtps(tmp_path):
    """The names do not collide: `pipelines` is the team's, `vtp.pipelines` is vtp's."""
    team = tmp_path / "team"
    (team / "pipelines").mkdir(parents=True)
    (team / "pipelines" / "__init__.py").write_text(TEAM_PIPELINES)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_BOTH],
        cwd=team,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"team {team / 'pipelines' / '__init__.py'}" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.xdist_group("e2e-wheel")
def test_fresh_venv_with_only_the_wheel_runs_lists_compiles_and_checks(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    version = wheel.name.split("-")[1]
    assert {n.split("/", 1)[0] for n in names} == {"vtp", f"vtp-{version}.dist-info"}
    for shipped in (
        "vtp/compiled/pipelines/training.yaml",
        "vtp/compiled/components/load_dataset.yaml",
        "vtp/sample_data/breast_cancer.csv",
        "vtp/_trainers/trainer/task.py",
    ):
        assert shipped in names, shipped

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VTP_", "PYTHON", "VIRTUAL_ENV")) and k != "GOOGLE_CLOUD_PROJECT"
    }
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1")
    subprocess.run(
        [bin_dir / "pip", "install", "--disable-pip-version-check", "--quiet", str(wheel)],
        check=True,
        env=env,
        timeout=900,
    )

    project = tmp_path / "project"  # outside the checkout, with no data/ and no compiled/
    project.mkdir()

    def vtp(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [bin_dir / "vtp", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    show = subprocess.run(
        [bin_dir / "pip", "show", "-f", "vtp"], env=env, capture_output=True, text=True, check=True
    ).stdout
    files = show.split("Files:", 1)[1].split()
    outside = [f for f in files if not f.startswith(("vtp/", "vtp-")) and "/bin/" not in f]
    assert outside == [], outside
    top = next(f for f in files if f.endswith(".dist-info/top_level.txt"))
    location = show.split("Location:", 1)[1].split()[0]
    assert (Path(location) / top).read_text().split() == ["vtp"]

    listed = vtp("list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split(":")[0] for line in listed.stdout.splitlines()] == [
        "distributed",
        "training",
        "tuning",
    ]

    run = vtp("run", "training", "--local", "--home", str(project / ".vtp"), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "gate     pass" in run.stdout
    assert "data     train 4" in run.stdout  # the shipped sample, split

    out = project / "out"
    compiled = vtp("compile", "--out", str(out))
    assert compiled.returncode == 0, compiled.stderr
    for path in sorted((REPO / "compiled").rglob("*.yaml")):  # the wheel compiles the template
        assert (out / path.relative_to(REPO / "compiled")).read_bytes() == path.read_bytes(), path

    checked = vtp("check", "--local")  # nothing compiled here: the shipped templates
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checking vtp's shipped templates" in checked.stderr
    assert ": 0 problems, 0 warnings" in checked.stdout

    (project / "vtp.toml").write_text(
        'registry = "europe-west4-docker.pkg.dev/p/images"\ncompiled = "mine"\n'
    )
    assert vtp("compile").returncode == 0
    mine = vtp("check", "--local")
    assert mine.returncode == 0, mine.stdout + mine.stderr
    assert "mine/pipelines/training.yaml" in vtp("check", "--local", "-v").stdout

    team = project / "team"
    (team / "pipelines").mkdir(parents=True)
    (team / "pipelines" / "__init__.py").write_text(TEAM_PIPELINES)
    both = subprocess.run(
        [bin_dir / "python", "-c", IMPORT_BOTH],
        cwd=team,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert both.returncode == 0, both.stderr
    assert f"vtp {venv}" in both.stdout  # vtp's pipelines come from the installed wheel


def test_the_package_list_is_the_tree():
    """`[tool.setuptools] packages` names every package of the mapped folders, and no other."""
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = {"vtp": "vtp", **setuptools["package-dir"]}
    found = set()
    for package, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            if "__pycache__" not in relative.parts:
                found.add(".".join([package, *relative.parts]))
    assert sorted(setuptools["packages"]) == sorted(found)
