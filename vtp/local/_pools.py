"""Raw worker pool dicts, normalised for the local executor.

Payloads reach the twin in several shapes: snake_case or camelCase keys, integers that
arrive as floats (`2.0`) or as int64 strings (`"2"`), and `{}` for an unused middle pool.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vtp.errors import SpecError

MAX_POOLS = 4
DEFAULT_TIMEOUT = "604800s"
_NO_ACCELERATOR = {"", "ACCELERATOR_TYPE_UNSPECIFIED"}
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


@dataclass(frozen=True)
class Pool:
    """One used worker pool, in the form the executor needs."""

    index: int
    replica_count: int
    image_uri: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    python_module: str = ""
    package_uris: tuple[str, ...] = ()
    accelerator_type: str = ""
    accelerator_count: int = 0

    @property
    def name(self) -> str:
        return f"workerpool{self.index}"

    @property
    def field(self) -> str:
        return f"worker_pool_specs[{self.index}]"

    @property
    def is_python_package(self) -> bool:
        return bool(self.python_module)

    @property
    def has_accelerator(self) -> bool:
        return self.accelerator_count > 0 or self.accelerator_type not in _NO_ACCELERATOR

    @property
    def is_reduction_server(self) -> bool:
        """Google's Reduction Server image in pool 2: a service Vertex runs, not user code."""
        return (
            self.index == 2 and not self.is_python_package and "reductionserver" in self.image_uri
        )


def snake(key: str) -> str:
    """`replicaCount` -> `replica_count`; snake_case keys pass through."""
    return _CAMEL.sub(r"_\1", key).lower()


def snake_keys(value: object) -> object:
    """A copy of `value` with every dict key snake_cased and whole floats made ints."""
    if isinstance(value, Mapping):
        return {snake(str(k)): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [snake_keys(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(value: object, field: str, *, minimum: int = 0) -> int:
    """An int from `value` (int, whole float, or digit string), at least `minimum`."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = float(value.strip())
    if number is None or not math.isfinite(number) or not number.is_integer() or number < minimum:
        raise SpecError(field, value, f"must be a whole number >= {minimum}")
    return int(number)


def parse_timeout(value: object) -> float:
    """Seconds of a protobuf Duration (`"3600s"`, `"0.5s"`); empty means Vertex's 7 days."""
    if value in ("", None):
        value = DEFAULT_TIMEOUT
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise SpecError(
                "scheduling.timeout", value, "must be a Duration string such as '3600s' or '0.5s'"
            )
        seconds = float(match.group(1))
    if not math.isfinite(seconds) or seconds <= 0:
        raise SpecError("scheduling.timeout", value, "must be a positive duration")
    return seconds


def parse_pools(raw_pools: Sequence[Mapping | None]) -> list[Pool]:
    """The used pools of `worker_pool_specs`, validated; `{}`/None entries are skipped."""
    if not isinstance(raw_pools, Sequence) or isinstance(raw_pools, str):
        raise SpecError("worker_pool_specs", raw_pools, "must be a list of worker pool dicts")
    if not 1 <= len(raw_pools) <= MAX_POOLS:
        raise SpecError(
            "worker_pool_specs", len(raw_pools), f"must hold 1 to {MAX_POOLS} pools (length)"
        )
    pools = []
    for index, raw in enumerate(raw_pools):
        if raw is None or (isinstance(raw, Mapping) and not raw):
            continue
        if not isinstance(raw, Mapping):
            raise SpecError(f"worker_pool_specs[{index}]", raw, "must be a dict (or {} if unused)")
        pools.append(_parse_pool(index, snake_keys(raw)))
    if not pools or pools[0].index != 0:
        raise SpecError("worker_pool_specs[0]", {}, "must define the primary replica")
    if pools[0].replica_count != 1:
        raise SpecError(
            "worker_pool_specs[0].replica_count", pools[0].replica_count, "must be 1 (primary)"
        )
    return pools


def _parse_pool(index: int, spec: dict) -> Pool:
    field = f"worker_pool_specs[{index}]"
    container, package = spec.get("container_spec"), spec.get("python_package_spec")
    if bool(container) == bool(package):
        raise SpecError(
            field,
            sorted(spec),
            "needs exactly one of container_spec or python_package_spec",
        )
    replicas = whole_number(spec.get("replica_count", 1), f"{field}.replica_count", minimum=1)
    machine = _mapping(spec.get("machine_spec") or {}, f"{field}.machine_spec")
    accelerator_type = str(machine.get("accelerator_type") or "")
    if accelerator_type == "0":  # the enum as a number
        accelerator_type = ""
    accelerator_count = whole_number(
        machine.get("accelerator_count") or 0, f"{field}.machine_spec.accelerator_count"
    )
    if container:
        body = _mapping(container, f"{field}.container_spec")
        sub = f"{field}.container_spec"
        image = body.get("image_uri")
        module, packages, command = "", (), _strings(body.get("command"), f"{sub}.command")
    else:
        body = _mapping(package, f"{field}.python_package_spec")
        sub = f"{field}.python_package_spec"
        image = body.get("executor_image_uri")
        module = body.get("python_module")
        if not isinstance(module, str) or not module.strip():
            raise SpecError(f"{sub}.python_module", module, "must name a module to run with -m")
        module = module.strip()
        packages, command = _strings(body.get("package_uris"), f"{sub}.package_uris"), ()
    if not isinstance(image, str) or not image.strip():
        key = "image_uri" if container else "executor_image_uri"
        raise SpecError(f"{sub}.{key}", image, "must be a non-empty image URI")
    return Pool(
        index=index,
        replica_count=replicas,
        image_uri=image.strip(),
        command=command,
        args=_strings(body.get("args"), f"{sub}.args"),
        env=_env(body.get("env"), f"{sub}.env"),
        python_module=module,
        package_uris=packages,
        accelerator_type="" if accelerator_type in _NO_ACCELERATOR else accelerator_type,
        accelerator_count=accelerator_count,
    )


def _mapping(value: object, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SpecError(field, value, "must be a dict")
    return value


def _strings(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SpecError(field, value, "must be a list of strings")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(str(item))
        else:
            raise SpecError(f"{field}[{i}]", item, "must be a string")
    return tuple(out)


def _env(value: object, field: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SpecError(field, value, "must be a list of {name, value} dicts")
    out = []
    for i, item in enumerate(value):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise SpecError(f"{field}[{i}]", item, "must be a {name, value} dict with a name")
        raw = item.get("value", "")
        out.append((name, "" if raw is None else str(raw)))
    return tuple(out)
