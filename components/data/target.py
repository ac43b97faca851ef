"""The target column: its values seen while splitting, and the learning task they imply.

Detection rule (`task="auto"`), on the rows whose target is not missing:

- text, boolean or categorical values: a classification; 2 classes -> binary, 3 up to
  `MAX_CLASSES` -> multiclass; more than `MAX_CLASSES` distinct texts is refused (a label
  column holds classes, not identifiers or free text).
- floating-point values that are not all whole numbers -> regression.
- integer values (or floats that are all whole numbers, such as `1.0`/`0.0`): 2 distinct
  values -> binary; 3 up to `MAX_AUTO_INTEGER_CLASSES` -> multiclass; more -> regression (many
  distinct integers are counts or amounts more often than classes: set `task=multiclass` to
  train up to `MAX_CLASSES` integer classes).
- a single distinct value, or no value at all, is refused: there is nothing to learn.

A task that is given is checked against the values instead: binary needs exactly 2 classes,
multiclass 2 up to `MAX_CLASSES` (whole numbers or text), regression numbers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vtp.components.evaluation.tasks import AUTO, BINARY, MULTICLASS, REGRESSION, check_task
from vtp.errors import DataError

if TYPE_CHECKING:
    import polars as pl

#: Most classes a classification target may have.
MAX_CLASSES = 1000
#: Most distinct integers `auto` reads as classes; more are a regression target.
MAX_AUTO_INTEGER_CLASSES = 20

TEXT, BOOLEAN, INTEGER, FLOAT, OTHER = "text", "boolean", "integer", "float", "other"


def kind_of(dtype: pl.DataType) -> str:
    """text | boolean | integer | float | other, for a Polars dtype."""
    import polars as pl

    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return TEXT
    if dtype == pl.Boolean:
        return BOOLEAN
    if dtype.is_integer():
        return INTEGER
    if dtype.is_float() or dtype.is_decimal():
        return FLOAT
    return OTHER


@dataclass
class ClassTracker:
    """Observes the target column batch by batch: its distinct values, up to `limit` + 1 of
    them (past that only the fact that there are more is kept, so memory stays bounded), and
    for floats whether every value is a whole number. Polars calls `observe` from its worker
    threads; the lock keeps the updates whole."""

    limit: int = MAX_CLASSES
    floats: bool = False
    values: set = field(default_factory=set)
    overflow: bool = False
    whole: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, batch: pl.Series) -> pl.Series:
        """Records `batch`'s values; returns the batch unchanged."""
        present = batch.drop_nulls()
        whole = not self.floats or bool((present == present.round()).all())
        distinct = None if self.overflow else present.unique().to_list()
        with self._lock:
            self.whole = self.whole and whole
            if distinct is not None and not self.overflow:
                self.values.update(distinct)
                if len(self.values) > self.limit:
                    self.overflow = True
                    self.values = set()
        return batch

    def classes(self) -> list[Any] | None:
        """The distinct values, sorted; None when there were more than `limit`."""
        return None if self.overflow else sorted(self.values)


@dataclass
class SplitCounter:
    """Counts rows by split id (0 train, 1 validation, 2 test, 3 missing target) as the
    batches stream past."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def observe(self, batch: pl.Series) -> pl.Series:
        """Adds `batch`'s split ids to the counts; returns the batch unchanged."""
        found = batch.value_counts()
        with self._lock:
            for split, count in found.iter_rows():
                self.counts[int(split)] += int(count)
        return batch


@dataclass(frozen=True)
class TargetSummary:
    """What the split pass saw of the target column.

    Attributes:
        column: Its name.
        kind: text | boolean | integer | float | other.
        present_rows: Rows with a value.
        missing_rows: Rows without one (null, or NaN for floats).
        classes: Distinct values (sorted), None when there are more than `MAX_CLASSES`.
        whole_numbers: For floats: every value is a whole number.
    """

    column: str
    kind: str
    present_rows: int
    missing_rows: int
    classes: list[Any] | None
    whole_numbers: bool


@dataclass(frozen=True)
class TaskDecision:
    """The task and, for a classification, its classes; `note` explains an auto choice."""

    task: str
    classes: list[Any] | None
    note: str


def decide_task(target: TargetSummary, task: str) -> TaskDecision:
    """The task of `target`: detected (`task="auto"`) or checked against its values.

    Raises:
        DataError: the values do not fit the task, or no task fits them.
    """
    check_task(task)
    name = f"target column {target.column!r}"
    classes = target.classes
    count = None if classes is None else len(classes)
    shown = _show(classes)
    if target.kind == OTHER:
        raise DataError(f"{name} must hold numbers, text or booleans to be learned")
    if target.present_rows == 0:
        raise DataError(f"{name} has no values: every row's target is missing")
    if count is not None and count < 2:
        raise DataError(f"{name} has a single value {shown}: there is nothing to learn")
    whole = target.kind in (INTEGER, BOOLEAN, TEXT) or target.whole_numbers
    if task == AUTO:
        return _detect(target, name, count, shown, whole)
    if task == REGRESSION:
        if target.kind not in (INTEGER, FLOAT):
            raise DataError(f"task regression needs a numeric {name}; it holds {target.kind}")
        return TaskDecision(REGRESSION, None, "")
    if not whole:
        raise DataError(
            f"task {task} needs classes, but {name} holds floats that are not whole numbers; "
            "use task regression"
        )
    if count is None:
        raise DataError(
            f"task {task} allows at most {MAX_CLASSES} classes; {name} has more distinct values"
        )
    if task == BINARY and count != 2:
        raise DataError(
            f"task binary needs exactly 2 classes; {name} has {count}: {shown} "
            "(use task multiclass)"
        )
    return TaskDecision(task, classes, "")


def _detect(target: TargetSummary, name: str, count: int | None, shown: str, whole: bool):
    if target.kind in (TEXT, BOOLEAN):
        if count is None:
            raise DataError(
                f"{name} holds more than {MAX_CLASSES} distinct texts: a label column holds "
                "classes, not identifiers or free text"
            )
        task = BINARY if count == 2 else MULTICLASS
        return TaskDecision(task, target.classes, f"{count} classes {shown}")
    if not whole:
        return TaskDecision(REGRESSION, None, "floats that are not all whole numbers")
    if count is not None and count == 2:
        return TaskDecision(BINARY, target.classes, f"2 distinct values {shown}")
    if count is not None and count <= MAX_AUTO_INTEGER_CLASSES:
        return TaskDecision(MULTICLASS, target.classes, f"{count} distinct whole numbers {shown}")
    many = f"{count}" if count is not None else f"more than {MAX_CLASSES}"
    return TaskDecision(
        REGRESSION,
        None,
        f"{many} distinct whole numbers (more than {MAX_AUTO_INTEGER_CLASSES}; set "
        "task=multiclass to treat them as classes)",
    )


def _show(classes: list[Any] | None, limit: int = 10) -> str:
    if classes is None:
        return ""
    head = ", ".join(repr(c) for c in classes[:limit])
    return f"[{head}{', ...' if len(classes) > limit else ''}]"
