"""Pipeline parameter values checked before anything runs (`vtp run --local`, `vtp submit`).

Two kinds of rules, each error naming the parameter, the value and what is allowed:

- for every parameter, by its declared type: numbers are finite (a NaN threshold compares
  false with everything, an infinite one passes or fails everything), integers fit what the
  YAML and the protobuf `Value` carrying them can hold exactly (|n| <= 2**53), lists and
  mappings are nested at most `MAX_NESTING` deep and hold only such values, and every
  `gs://` URI has a bucket and no `.` or `..` segment (`vtp.gcs`);
- for parameters named as vtp's pipelines (and GCPC's ops) name them, wherever they appear:
  the project and location of Vertex resources, display names, image URIs, metrics and their
  goal, split fractions, durations, the data source, the staging root and, for a local run,
  the number of replicas and of parallel trials this machine can start at once
  (`vtp.local.limits`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vtp.errors import VtpError

#: The largest integer a double (the protobuf `Value` every number travels in) holds exactly.
MAX_EXACT_INT = 2**53
#: The deepest nesting of lists and mappings in one parameter value.
MAX_NESTING = 32
MAX_DISPLAY_NAME = 128

_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$")
_LOCATION = re.compile(r"^[a-z]+(?:-[a-z]+)+\d+$")
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
_DURATION = re.compile(r"^\d+(?:\.\d{1,9})?s$")


class ParameterValueError(VtpError, ValueError):
    """A parameter value that a step would refuse (bad input: exit code 2)."""

    def __init__(self, name: str, value: Any, allowed: str, *, what: str = "parameter "):
        self.name, self.value, self.allowed = name, value, allowed
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:200] + "..."
        subject = f"{what}{name!r}" if what else name
        super().__init__(f"{subject} {allowed}, got {shown}")


def check_values(types: Mapping[str, str], values: Mapping[str, Any], *, local: bool) -> None:
    """Checks every value of `values` (`types`: name -> KFP type name, `String`, `Integer`...).

    Raises:
        ParameterValueError: the first value that breaks a rule.
    """
    for name, value in values.items():
        _generic(name, value, types.get(name, ""))
    for name, value in values.items():
        for matches, rule in _NAMED:
            if matches(name):
                rule(name, value, values, local)


def check_params_file(path: str | Path) -> None:
    """A `--params` file, before its values are used: UTF-8, no key given twice in one mapping
    (YAML would keep the last silently), nested at most `MAX_NESTING` levels.

    Raises:
        ParameterValueError: naming the file, the key or the line.
    """
    import yaml

    p = Path(path)
    field = f"--params file {str(p)!r}"

    def error(value: Any, allowed: str) -> ParameterValueError:
        return ParameterValueError(field, value, allowed, what="")

    try:
        text = p.read_bytes().decode("utf-8")
    except OSError:
        return  # reported by the loader with its own message
    except UnicodeDecodeError as err:
        raise error(f"byte {err.start}", "must be UTF-8 text") from None

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise error(
                    key,
                    f"must not give a key twice in one mapping (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1})",
                )
            seen[key] = key_node.start_mark.line
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        data = yaml.load(text, Loader=Loader)
    except RecursionError:
        raise error("...", f"must be nested at most {MAX_NESTING} levels deep") from None
    except yaml.YAMLError:
        return  # reported by the loader, with the line
    if _depth(data) > MAX_NESTING:
        raise error("...", f"must be nested at most {MAX_NESTING} levels deep")


def _depth(value: Any) -> int:
    stack, deepest = [(value, 0)], 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


# --- every parameter ---------------------------------------------------------------------------


def _generic(name: str, value: Any, kind: str, depth: int = 0, where: str = "") -> None:
    label = name + where
    if depth > MAX_NESTING:
        raise ParameterValueError(
            name, "...", f"must be nested at most {MAX_NESTING} levels deep (lists and mappings)"
        )
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterValueError(label, value, "must be a finite number (not NaN or inf)")
        if kind == "Integer" and not value.is_integer():
            raise ParameterValueError(label, value, "must be an integer")
        return
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INT:
            raise ParameterValueError(
                label,
                value,
                f"must be at most {MAX_EXACT_INT} in size (2**53: larger integers are not carried "
                "exactly by the pipeline's parameters, which hold numbers as doubles)",
            )
        return
    if isinstance(value, str):
        if value.startswith("gs://"):
            from vtp.gcs import gcs_uri_problem

            problem = gcs_uri_problem(value)
            if problem:
                raise ParameterValueError(
                    label, value, f"must be a gs://bucket/path URI without '.' or '..' ({problem})"
                )
        if "\x00" in value:
            raise ParameterValueError(label, value, "must not hold a NUL character")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _generic(name, item, "", depth + 1, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterValueError(label, key, "must have string keys")
            _generic(name, item, "", depth + 1, f"{where}[{key!r}]")
        return
    raise ParameterValueError(label, value, "must be a JSON value")


# --- parameters by name ------------------------------------------------------------------------


def _project(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not _PROJECT.fullmatch(value):
        raise ParameterValueError(
            name,
            value,
            "must be a Google Cloud project id (lowercase letters, digits and hyphens, "
            "starting with a letter, at most 63 characters)",
        )


def _location(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not _LOCATION.fullmatch(value):
        raise ParameterValueError(
            name, value, "must be a Vertex AI region such as us-central1 or europe-west4"
        )


def _display_name(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DISPLAY_NAME:
        raise ParameterValueError(
            name, value, f"must be a display name of 1 to {MAX_DISPLAY_NAME} characters"
        )
    if any(ord(c) < 32 for c in value):
        raise ParameterValueError(name, value, "must not hold control characters")


def _image(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not _IMAGE.fullmatch(value):
        raise ParameterValueError(
            name,
            value,
            "must be a container image URI such as us-docker.pkg.dev/project/repo/image:tag",
        )


def _metric(name: str, value: Any, values: Mapping, local: bool) -> None:
    from vtp.components.evaluation.tasks import METRICS

    known = sorted({m for metrics in METRICS.values() for m in metrics})
    if value not in known:
        raise ParameterValueError(name, value, f"must be one of {', '.join(known)}")


def _goal(name: str, value: Any, values: Mapping, local: bool) -> None:
    from vtp.components.evaluation.tasks import GOALS, METRICS

    if value not in GOALS:
        raise ParameterValueError(name, value, f"must be one of {', '.join(GOALS)}")
    metric = values.get("primary_metric")
    directions = {metrics[metric] for metrics in METRICS.values() if metric in metrics}
    if len(directions) == 1 and GOALS[value] not in directions:
        right = "maximize" if directions.pop() else "minimize"
        raise ParameterValueError(name, value, f"must be {right!r} for metric {metric!r}")


def _fraction(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ParameterValueError(name, value, "must be a number from 0 to 1")


def _duration(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not _DURATION.fullmatch(value) or float(value[:-1]) <= 0:
        raise ParameterValueError(
            name, value, "must be a positive duration in seconds with an s, such as 3600s"
        )


def _staging_root(name: str, value: Any, values: Mapping, local: bool) -> None:
    if value != "" and not (isinstance(value, str) and value.startswith("gs://")):
        raise ParameterValueError(name, value, "must be a gs://bucket/path URI or empty")


def _data_source(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ParameterValueError(name, value, "must be a file, a wildcard or a gs:// URI")
    if not local or value.startswith(("gs://", "bq://")) or "://" in value:
        return
    import glob

    path = Path(value).expanduser()
    found = glob.glob(str(path)) if any(c in value for c in "*?[") else [str(path)]
    files = [f for f in found if Path(f).is_file()]
    if not files:
        shown = "matches no file" if found == [] or len(found) != 1 else "is not a file"
        if len(found) == 1 and not Path(found[0]).exists():
            shown = "does not exist"
        raise ParameterValueError(
            name, value, f"must name data files on this machine or a gs:// URI (it {shown})"
        )
    _readable_text(name, value, Path(files[0]))


def _readable_text(name: str, value: str, path: Path) -> None:
    """A CSV or JSONL source must be UTF-8 text (its first block is read)."""
    if path.suffix.lower() not in (".csv", ".jsonl", ".json", ".txt"):
        return
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError as err:
        raise ParameterValueError(name, value, f"must be readable ({err.strerror})") from None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the end of the block
            raise ParameterValueError(
                name,
                value,
                f"must be UTF-8 text (byte {err.start} of {path.name} is not: "
                f"{head[err.start : err.start + 4]!r})",
            ) from None


def _whole(value: Any) -> bool:
    """An integer (a whole float too: a YAML default read back holds one as a double)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _positive(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not _whole(value) or value < 1:
        raise ParameterValueError(name, value, "must be an integer of at least 1")


def _not_negative(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not _whole(value) or value < 0:
        raise ParameterValueError(name, value, "must be an integer of at least 0")


def _worker_count(name: str, value: Any, values: Mapping, local: bool) -> None:
    _positive(name, value, values, local)
    if local:
        from vtp.local.limits import process_cap

        cap = process_cap()
        if value + 1 > cap.limit:
            raise ParameterValueError(
                name,
                value,
                f"must be at most {cap.limit - 1} in a local run (the primary and {value} "
                f"workers are {value + 1} processes; {cap.why}); run it on Vertex AI",
            )


def _parallel_trials(name: str, value: Any, values: Mapping, local: bool) -> None:
    _positive(name, value, values, local)
    if local:
        from vtp.local.limits import process_cap

        cap = process_cap()
        if value > cap.limit:
            raise ParameterValueError(
                name,
                value,
                f"must be at most {cap.limit} in a local run (one process per trial; {cap.why})",
            )


#: Compute Engine machine families Vertex AI training runs on (the part before the first -).
MACHINE_FAMILIES = (
    "e2", "n1", "n2", "n2d", "n4", "c2", "c2d", "c3", "c3d", "c4", "c4a", "c4d", "m1", "m2",
    "m3", "m4", "a2", "a3", "a4", "g2", "g4", "h3", "ct3", "ct3p", "ct4p", "ct5lp", "ct5p",
    "ct6e", "tpu7x", "cloud",
)  # fmt: skip


def _machine_type(name: str, value: Any, values: Mapping, local: bool) -> None:
    if value == "" and name != "machine_type":
        return  # e.g. worker_machine_type: empty means the primary's
    family = value.split("-", 1)[0] if isinstance(value, str) else ""
    if family not in MACHINE_FAMILIES or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", value):
        raise ParameterValueError(
            name,
            value,
            "must be a Compute Engine machine type Vertex AI trains on, such as "
            f"n1-standard-4 (families: {', '.join(MACHINE_FAMILIES[:-1])}, cloud-tpu)",
        )


def _not_negative_number(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ParameterValueError(name, value, "must be a number of at least 0")


def _non_empty(name: str, value: Any, values: Mapping, local: bool) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ParameterValueError(name, value, "must be a non-empty column name")


def _is(*names: str) -> Callable[[str], bool]:
    return lambda name: name in names


def _ends(*suffixes: str) -> Callable[[str], bool]:
    return lambda name: name.endswith(suffixes)


_NAMED: list[tuple[Callable[[str], bool], Callable[..., None]]] = [
    (_is("project"), _project),
    (_is("location"), _location),
    (_ends("display_name"), _display_name),
    (_ends("_image"), _image),
    (_is("primary_metric"), _metric),
    (_is("metric_goal"), _goal),
    (_ends("_fraction"), _fraction),
    (_is("timeout"), _duration),
    (_is("staging_root"), _staging_root),
    (_is("data_source"), _data_source),
    (_is("target_column"), _non_empty),
    (_ends("machine_type"), _machine_type),
    (_is("min_improvement"), _not_negative_number),
    (_is("worker_count"), _worker_count),
    (_is("parallel_trial_count"), _parallel_trials),
    (_is("max_trial_count"), _positive),
    (_is("accelerator_count", "reduction_server_count", "max_failed_trial_count"), _not_negative),
]
