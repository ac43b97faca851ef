"""Cron expressions as Vertex schedules take them, checked here and turned into fire times.

Five fields, `minute hour day-of-month month day-of-week`, optionally prefixed with
`TZ=<IANA zone>` or `CRON_TZ=<IANA zone>` (UTC without one). Each field is `*`, a value, a range
`a-b`, a step `*/n`, `a-b/n` or `a/n` (a to the field's maximum), or a comma-separated list of
those; months take `jan`..`dec` and days of the week `sun`..`sat` (0 and 7 are both Sunday).
Day matching follows crontab(5): when both day fields are restricted (neither starts with
`*`), a day matches if either does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vtp.errors import SpecError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0

    @property
    def allowed(self) -> str:
        text = f"{self.low}-{self.high}"
        if self.names:
            text += f" or {self.names[0]}-{self.names[-1]}"
        return text


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _DAYS, 0),
)
_PREFIX = re.compile(r"^(?:CRON_TZ|TZ)=(\S*)\s+(.*)$", re.DOTALL)
_ITEM = re.compile(r"^(?P<range>\*|[^-/]+(?:-[^-/]+)?)(?:/(?P<step>[^/]*))?$")
#: ASCII digits only: `str.isdigit` also takes `²`, which `int` refuses.
_NUMBER = re.compile(r"[0-9]+")
#: A schedule that finds no fire time within this many days never fires (e.g. `0 0 30 2 *`);
#: eight years cover every leap-year and weekday combination.
_HORIZON_DAYS = 8 * 366
SYNTAX = (
    "must be 5 fields `minute hour day-of-month month day-of-week` "
    "(optionally after TZ=<IANA zone> or CRON_TZ=<IANA zone>)"
)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression.

    Attributes:
        text: the expression as given (with its time zone prefix), as sent to Vertex.
        timezone: IANA name of the zone the fields are read in.
        minutes, hours, days, months, weekdays: the values each field matches
            (weekdays 0-6, Sunday 0).
        days_restricted, weekdays_restricted: whether the day fields narrow the days
            (neither starts with `*`); when both do, either may match.
    """

    text: str
    timezone: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_times(
        self, after: datetime, count: int, *, until: datetime | None = None
    ) -> list[datetime]:
        """The next `count` fire times strictly after `after` (and not after `until`).

        Times are aware datetimes in the cron's zone. A wall time skipped by a daylight-saving
        change does not fire; a repeated one fires once (its first occurrence).

        Raises:
            SpecError: the expression never fires (e.g. the 30th of February).
        """
        if after.tzinfo is None:
            raise ValueError("after must be an aware datetime")
        zone = self.zone
        start = after.astimezone(zone)
        times: list[datetime] = []
        day = last_fire_day = start.date()
        while len(times) < count and (day - last_fire_day).days <= _HORIZON_DAYS:
            if until is not None and day > until.astimezone(zone).date():
                break
            if self.matches_day(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        # Instants, not wall times: aware datetimes of one zone compare by
                        # their wall clock, which misorders the repeated hour of a DST change.
                        instant = wall.astimezone(UTC)
                        if not _exists(wall) or instant <= start.astimezone(UTC):
                            continue
                        if (until is not None and instant > until) or len(times) == count:
                            return times
                        times.append(wall)
                        last_fire_day = day
            day += timedelta(days=1)
        if not times and count and until is None:
            raise SpecError("cron", self.text, "never fires (no matching day in 8 years)")
        return times


def _exists(wall: datetime) -> bool:
    """False for a wall time inside a daylight-saving gap (it does not round-trip)."""
    back = wall.astimezone(UTC).astimezone(wall.tzinfo)
    return back.replace(tzinfo=None) == wall.replace(tzinfo=None)


def parse(text: str) -> Cron:
    """Parses a cron expression; errors name the field, the value and the allowed range.

    Raises:
        SpecError: the expression is malformed, a value is out of range, the time zone is
            unknown, or it never fires.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError("cron", text, SYNTAX)
    body = text.strip()
    timezone = "UTC"
    prefixed = _PREFIX.match(body)
    if prefixed:
        timezone, body = prefixed[1], prefixed[2].strip()
        _check_zone(timezone)
    elif body.split()[0].upper().startswith(("TZ=", "CRON_TZ=")):
        raise SpecError("cron", text, SYNTAX)
    parts = body.split()
    if len(parts) != 5:
        raise SpecError("cron", text, SYNTAX)
    values = [_parse_field(spec, part) for spec, part in zip(_FIELDS, parts, strict=True)]
    weekdays = frozenset(v % 7 for v in values[4])
    cron = Cron(
        text=text.strip(),
        timezone=timezone,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    cron.next_times(datetime(2000, 1, 1, tzinfo=UTC), 1)
    return cron


def _check_zone(name: str) -> None:
    allowed = "must be an IANA time zone such as UTC, Europe/Paris or America/New_York"
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise SpecError("cron time zone", name, allowed)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SpecError("cron time zone", name, allowed) from None


def _parse_field(spec: _Field, text: str) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        out.update(_parse_item(spec, item, text))
    return frozenset(out)


def _parse_item(spec: _Field, item: str, whole: str) -> range:
    field = f"cron {spec.name}"
    syntax = (
        f"must be *, a value, a range a-b, a step */n, a-b/n or a/n, or a list of those "
        f"(values {spec.allowed})"
    )
    match = _ITEM.match(item)
    if not item or not match:
        raise SpecError(field, whole, syntax)
    span, step_text = match["range"], match["step"]
    if span == "*":
        low, high = spec.low, spec.high
    elif "-" in span:
        first, last = span.split("-")
        low, high = _value(spec, first, whole), _value(spec, last, whole)
        if low > high:
            raise SpecError(field, whole, f"ranges must go from low to high ({spec.allowed})")
    else:
        low = high = _value(spec, span, whole)
        if step_text is not None:
            high = spec.high  # `a/n` is `a-<max>/n`
    step = 1
    if step_text is not None:
        if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
            raise SpecError(field, whole, "steps must be a whole number of at least 1")
        step = int(step_text)
    return range(low, high + 1, step)


def _value(spec: _Field, text: str, whole: str) -> int:
    lowered = text.lower()
    if spec.names and lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if _NUMBER.fullmatch(text) and spec.low <= int(text) <= spec.high:
        return int(text)
    raise SpecError(f"cron {spec.name}", whole, f"values must be in {spec.allowed}")
