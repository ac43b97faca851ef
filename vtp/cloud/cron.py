"""Cron expressions as Vertex schedules take them, checked here and turned into fire times.

The fields are parsed and iterated by croniter; what vtp adds are the rules of Vertex's
schedules, which are unix cron (crontab(5)) and not croniter's extensions:

- five fields, `minute hour day-of-month month day-of-week`, optionally prefixed with
  `TZ=<IANA zone>` or `CRON_TZ=<IANA zone>` (UTC without one); no seconds field, no `@daily`
  macros, no `L`, `W`, `#`, `?` or `H`; months `jan`..`dec` and days `sun`..`sat` by name;
- a range goes from low to high (croniter would wrap `10-5` around);
- day matching follows crontab(5): when both day fields are restricted (neither starts with
  `*`), a day matches if either does, otherwise both must;
- time zones: the fields are read as wall-clock times of the zone. A wall time skipped by a
  daylight-saving change does not fire; a repeated one fires once, at its first occurrence.
  (croniter is iterated over wall-clock times, which vtp then places in the zone.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vtp.errors import SpecError

_PREFIX = re.compile(r"^(?:CRON_TZ|TZ)=(\S*)\s+(.*)$", re.DOTALL)
_CHARS = re.compile(r"[0-9A-Za-z*,/-]+")
_RANGE = re.compile(r"^([0-9A-Za-z]+)-([0-9A-Za-z]+)$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: A schedule that finds no fire time within this many years never fires (e.g. `0 0 30 2 *`);
#: eight years cover every leap-year and weekday combination.
_HORIZON_YEARS = 8
SYNTAX = (
    "must be 5 fields `minute hour day-of-month month day-of-week` "
    "(optionally after TZ=<IANA zone> or CRON_TZ=<IANA zone>)"
)


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

    def value(self, token: str) -> int | None:
        if token.isdigit():
            return int(token)
        lowered = token.lower()
        return self.names.index(lowered) + self.name_base if lowered in self.names else None


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _DAYS, 0),
)


@dataclass(frozen=True)
class Cron:
    """A checked cron expression.

    Attributes:
        text: the expression as given (with its time zone prefix), as sent to Vertex.
        timezone: IANA name of the zone the fields are read in.
        fields: the five fields.
    """

    text: str
    timezone: str
    fields: tuple[str, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def day_or(self) -> bool:
        """crontab(5): with both day fields restricted, either may match."""
        return not (self.fields[2].startswith("*") or self.fields[4].startswith("*"))

    def next_times(
        self, after: datetime, count: int, *, until: datetime | None = None
    ) -> list[datetime]:
        """The next `count` fire times strictly after `after` (and not after `until`).

        Times are aware datetimes in the cron's zone.

        Raises:
            SpecError: the expression never fires (e.g. the 30th of February).
        """
        from croniter import CroniterBadDateError, croniter

        if after.tzinfo is None:
            raise ValueError("after must be an aware datetime")
        zone = self.zone
        start = after.astimezone(zone)
        horizon = start.replace(tzinfo=None) + timedelta(days=366 * _HORIZON_YEARS)
        walls = croniter(
            " ".join(self.fields),
            start.replace(tzinfo=None) - timedelta(minutes=1),  # croniter's next is strict
            day_or=self.day_or,
            max_years_between_matches=_HORIZON_YEARS,
        )
        times: list[datetime] = []
        while len(times) < count:
            try:
                wall = walls.get_next(datetime)
            except CroniterBadDateError:
                break
            if wall > horizon:
                break
            moment = wall.replace(tzinfo=zone)  # fold=0: the first of a repeated wall time
            instant = moment.astimezone(UTC)
            if not _exists(moment) or instant <= after.astimezone(UTC):
                continue
            if until is not None and instant > until:
                break
            times.append(moment)
        if not times and count and until is None:
            raise SpecError("cron", self.text, "never fires (no matching day in 8 years)")
        return times


def _exists(wall: datetime) -> bool:
    """False for a wall time inside a daylight-saving gap (it does not round-trip)."""
    back = wall.astimezone(UTC).astimezone(wall.tzinfo)
    return back.replace(tzinfo=None) == wall.replace(tzinfo=None)


def parse(text: str) -> Cron:
    """Checks a cron expression; errors name the field, the value and what is allowed.

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
    parts = tuple(body.split())
    if len(parts) != 5:
        raise SpecError("cron", text, SYNTAX)
    for spec, part in zip(_FIELDS, parts, strict=True):
        _check_field(spec, part)
    cron = Cron(text=text.strip(), timezone=timezone, fields=parts)
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


def _check_field(spec: _Field, text: str) -> None:
    """What unix cron takes in one field: croniter checks the values, steps and lists; the
    characters (no croniter extensions) and the order of ranges are checked here."""
    from croniter import croniter

    field = f"cron {spec.name}"
    syntax = (
        f"must be *, a value, a range a-b, a step */n, a-b/n or a/n, or a list of those "
        f"(values {spec.allowed})"
    )
    if not _CHARS.fullmatch(text) or not text.isascii():
        raise SpecError(field, text, syntax)
    values = [t for item in text.split(",") for t in re.split(r"-", item.split("/", 1)[0])]
    for token in values:
        if token and token != "*" and token.isalnum():
            number = spec.value(token)
            if number is None or not spec.low <= number <= spec.high:
                raise SpecError(field, text, f"values must be in {spec.allowed}")
    alone = ["*"] * 5
    alone[_FIELDS.index(spec)] = text
    if not croniter.is_valid(" ".join(alone)):
        raise SpecError(field, text, syntax)
    for item in text.split(","):
        bounds = _RANGE.match(item.split("/", 1)[0])
        if bounds and spec.value(bounds[1]) > spec.value(bounds[2]):
            raise SpecError(field, text, f"ranges must go from low to high ({spec.allowed})")
