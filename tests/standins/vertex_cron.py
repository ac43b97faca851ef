"""Schedule cron expressions as the Vertex AI stand-in checks them, and their next fire time.

Written independently of vtp's own cron module on purpose: the stand-in is what vtp's checks
are tested against. Five fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
JAN-DEC, day of week 0-7 or SUN-SAT with 0 and 7 both Sunday), each `*`, `N`, `A-B`, `*/S`,
`A-B/S`, `N/S` or a comma list of those, with an optional `TZ=Zone ` or `CRON_TZ=Zone ` prefix
(IANA names; UTC without). When both day fields are restricted a day matches either (cron(5)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, (_MONTHS, 1)),
    ("day of week", 0, 7, (_DAYS, 0)),
)
_PREFIX = re.compile(r"^(?:CRON_TZ|TZ)=(\S*)\s+(.*)$", re.S)


class CronError(ValueError):
    """A cron expression Vertex would refuse; the message says which part and why."""


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression."""

    text: str
    zone: ZoneInfo | None
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_star: bool
    weekday_star: bool

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7
        by_day, by_weekday = moment.day in self.days, weekday in self.weekdays
        if self.day_star or self.weekday_star:
            return by_day and by_weekday
        return by_day or by_weekday

    def next_after(self, after: datetime, limit_days: int = 366 * 5) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None within `limit_days`."""
        zone = self.zone or UTC
        local = after.astimezone(zone).replace(second=0, microsecond=0)
        day = local.replace(hour=0, minute=0)
        for _ in range(limit_days):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        naive = datetime(day.year, day.month, day.day, hour, minute)
                        candidate = naive.replace(tzinfo=zone)
                        utc = candidate.astimezone(UTC)
                        # a local time skipped by a DST change does not exist: no run
                        if utc.astimezone(zone).replace(tzinfo=None) != naive:
                            continue
                        if utc > after:
                            return utc
            day = (day.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
        return None

    def between(self, start: datetime, end: datetime, limit: int = 1000) -> list[datetime]:
        """Fire times in `(start, end]`, at most `limit`."""
        times: list[datetime] = []
        moment = start
        while len(times) < limit:
            moment = self.next_after(moment)
            if moment is None or moment > end:
                break
            times.append(moment)
        return times


def _value(text: str, name: str, low: int, high: int, names: tuple) -> int:
    if names and text.upper() in names[0]:
        return names[0].index(text.upper()) + names[1]
    if not text.isdigit():
        allowed = f"{low}-{high}" + (f" or {names[0][0]}-{names[0][-1]}" if names else "")
        raise CronError(f"{name} value {text!r} is not a number in {allowed}")
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{name} value {number} is out of range {low}-{high}")
    return number


def _field(text: str, name: str, low: int, high: int, names: tuple) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{name} field {text!r} has an empty list item")
        spec, _, step_text = item.partition("/")
        step = 1
        if step_text or item.endswith("/"):
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name} step in {item!r} must be a number >= 1")
            step = int(step_text)
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            a, _, b = spec.partition("-")
            first, last = _value(a, name, low, high, names), _value(b, name, low, high, names)
            if first > last:
                raise CronError(f"{name} range {spec!r} runs backwards")
        else:
            first = _value(spec, name, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_cron(text: str) -> Cron:
    """Parses a Vertex schedule's `cron`.

    Raises:
        CronError: the expression is not five valid fields, or its time zone is unknown.
    """
    zone = None
    body = text.strip()
    match = _PREFIX.match(body)
    if match:
        try:
            zone = ZoneInfo(match[1])
        except (ZoneInfoNotFoundError, ValueError):
            raise CronError(f"time zone {match[1]!r} is not an IANA time zone name") from None
        body = match[2].strip()
    elif body.startswith(("TZ=", "CRON_TZ=")):
        raise CronError("a TZ= or CRON_TZ= prefix must be followed by the five fields")
    parts = body.split()
    if len(parts) != 5:
        raise CronError(
            f"must have 5 fields (minute hour day-of-month month day-of-week), "
            f"found {len(parts)} in {body!r}"
        )
    sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(
        text=text,
        zone=zone,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        day_star=parts[2].startswith("*"),
        weekday_star=parts[4].startswith("*"),
    )
