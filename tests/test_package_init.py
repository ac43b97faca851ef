"""`vtp.package_init.defer_init`: a package's submodules import without its `__init__`, which
runs, once, when something asks the package for a name it lacks. Scratch packages in a
fresh interpreter each, so `sys.modules` starts clean."""

import subprocess
import sys
import textwrap
from pathlib import Path


def _python(code: str, *paths: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": ":".join(str(p) for p in paths)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _package(root: Path, name: str, init: str, **modules: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(textwrap.dedent(init))
    for module, text in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(text))


def test_submodules_import_without_the_init_which_runs_on_first_use(tmp_path):
    _package(
        tmp_path,
        "heavy",
        """
        import time
        time.sleep(0.2)  # threads asking meanwhile must wait for the names it sets
        RAN = RAN_COUNT = globals().get("RAN_COUNT", 0) + 1
        __version__ = "1.0"
        """,
        light="VALUE = 1\n",
    )
    out = _python(
        """
        import sys, threading
        from vtp.package_init import defer_init
        defer_init("heavy")
        from heavy import light
        import heavy
        assert light.VALUE == 1 and "RAN" not in vars(heavy)
        seen, errors = [], []
        def ask():
            try:
                seen.append(heavy.RAN)
            except Exception as err:
                errors.append(repr(err))
        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert errors == [], errors
        assert seen == [1, 1, 1, 1], seen  # once, whole, for every thread
        assert heavy.__version__ == "1.0"
        try:
            heavy.missing
        except AttributeError as err:
            print("missing:", err)
        """,
        tmp_path,
    )
    assert out == "missing: module 'heavy' has no attribute 'missing'"


def test_a_namespace_style_package_keeps_its_parts_on_other_path_entries(tmp_path):
    """kfp's `__init__` extends its `__path__` over every `sys.path` entry (kfp-kubernetes
    and kfp-pipeline-spec may live in another one): a deferred `__init__` must not lose them."""
    first, second = tmp_path / "a", tmp_path / "b"
    _package(
        first,
        "split",
        "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
        core="X = 1\n",
    )
    _package(second, "split", "", extra="Y = 2\n")
    out = _python(
        """
        from vtp.package_init import defer_init
        defer_init("split")
        import split.core
        import split.extra  # found through the package's path, asking it for no name
        print(split.core.X + split.extra.Y)
        """,
        first,
        second,
    )
    assert out == "3"
