"""Cron expressions are checked locally and their fire times computed (croniter, with the rules
of Vertex's unix cron on top; no stand-in here)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from vtp.cloud import cron
from vtp.errors import SpecError

AFTER = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # a Friday


def fires(expression: str, count: int = 5, after: datetime = AFTER) -> list[str]:
    return [t.isoformat() for t in cron.parse(expression).next_times(after, count)]


def test_fields_take_values_ranges_steps_lists_and_names():
    # 0 and 30 past 09, 13 and 17, on the 1st and 15th of jan-mar and dec, or Mon-Fri
    c = cron.parse("0,30 9-17/4 1,15 jan-mar,dec mon-fri")
    assert c.timezone == "UTC" and c.fields == ("0,30", "9-17/4", "1,15", "jan-mar,dec", "mon-fri")
    assert fires("0,30 9-17/4 1,15 jan-mar,dec mon-fri", 4) == [
        "2026-03-06T13:00:00+00:00",
        "2026-03-06T13:30:00+00:00",
        "2026-03-06T17:00:00+00:00",
        "2026-03-06T17:30:00+00:00",
    ]
    assert fires("*/20 * * * *", 3) == [
        "2026-03-06T12:20:00+00:00",
        "2026-03-06T12:40:00+00:00",
        "2026-03-06T13:00:00+00:00",
    ]
    assert fires("5/20 * * * *", 3)[0] == "2026-03-06T12:05:00+00:00"
    assert fires("0 0 * * 7", 2) == fires("0 0 * * sun", 2) == fires("0 0 * * 0", 2)
    assert fires("0 0 * * SAT,sun", 2) == [
        "2026-03-07T00:00:00+00:00",
        "2026-03-08T00:00:00+00:00",
    ]


def test_next_fire_times_every_weekday_morning():
    assert fires("*/15 9 * * mon-fri", 5) == [
        "2026-03-09T09:00:00+00:00",
        "2026-03-09T09:15:00+00:00",
        "2026-03-09T09:30:00+00:00",
        "2026-03-09T09:45:00+00:00",
        "2026-03-10T09:00:00+00:00",
    ]


def test_fire_times_are_strictly_after_the_given_time():
    assert fires("0 12 * * *", 1) == ["2026-03-07T12:00:00+00:00"]
    assert fires("0 12 * * *", 1, AFTER.replace(minute=0, second=0) - AFTER.resolution) == [
        "2026-03-06T12:00:00+00:00"
    ]


def test_both_day_fields_restricted_means_either_matches():
    # crontab(5): the 13th of the month OR any Friday.
    assert fires("0 0 13 * fri", 4) == [
        "2026-03-13T00:00:00+00:00",
        "2026-03-20T00:00:00+00:00",
        "2026-03-27T00:00:00+00:00",
        "2026-04-03T00:00:00+00:00",
    ]
    assert fires("0 0 1 * mon", 3) == [
        "2026-03-09T00:00:00+00:00",
        "2026-03-16T00:00:00+00:00",
        "2026-03-23T00:00:00+00:00",
    ]


def test_a_day_field_starting_with_star_does_not_widen_the_other():
    # `*/7` starts with `*`: only days 1, 8, 15, 22, 29 that are also Mondays.
    assert fires("0 0 */7 * mon", 3) == [
        "2026-06-01T00:00:00+00:00",
        "2026-06-08T00:00:00+00:00",
        "2026-06-15T00:00:00+00:00",
    ]


def test_leap_day_fires_only_in_leap_years():
    assert fires("0 0 29 feb *", 2) == ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]


@pytest.mark.parametrize("prefix", ["TZ", "CRON_TZ"])
def test_time_zone_prefix_reads_fields_in_that_zone(prefix):
    c = cron.parse(f"{prefix}=Europe/Paris 0 9 * * *")
    assert c.timezone == "Europe/Paris"
    assert c.text == f"{prefix}=Europe/Paris 0 9 * * *"
    first = c.next_times(AFTER, 1)[0]
    assert first.tzinfo == ZoneInfo("Europe/Paris")
    assert first.astimezone(UTC).isoformat() == "2026-03-07T08:00:00+00:00"


def test_daylight_saving_gap_is_skipped_and_repeated_hour_fires_once():
    spring = fires("TZ=America/New_York 30 2 * * *", 3, datetime(2026, 3, 7, 12, tzinfo=UTC))
    assert spring == [  # 2026-03-08 02:30 does not exist in New York
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
        "2026-03-11T02:30:00-04:00",
    ]
    autumn = fires("TZ=America/New_York 30 1 * * *", 3, datetime(2026, 10, 31, 12, tzinfo=UTC))
    assert autumn == [  # 01:30 happens twice on 2026-11-01: once is shown
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]


def test_from_inside_the_repeated_hour_the_first_occurrence_is_already_past():
    # 06:40 UTC is 01:40 EST, the second 01:40 of 2031-11-02 in New York; that night's 01:50
    # fired at 01:50 EDT (05:50 UTC), before it: the next fire time is the following night.
    after = datetime(2031, 11, 2, 6, 40, tzinfo=UTC)
    assert fires("TZ=America/New_York 50 1 * * *", 1, after) == ["2031-11-03T01:50:00-05:00"]


def test_until_stops_the_fire_times():
    c = cron.parse("0 0 * * *")
    assert len(c.next_times(AFTER, 10, until=datetime(2026, 3, 9, 0, tzinfo=UTC))) == 3
    assert c.next_times(AFTER, 10, until=datetime(2026, 3, 6, 23, tzinfo=UTC)) == []


_FIELD_RULE = "must be *, a value, a range a-b, a step */n, a-b/n or a/n, or a list of those"


@pytest.mark.parametrize(
    ("expression", "field", "allowed"),
    [
        ("60 * * * *", "cron minute", "values must be in 0-59"),
        ("* 24 * * *", "cron hour", "values must be in 0-23"),
        ("* * 0 * *", "cron day-of-month", "values must be in 1-31"),
        ("* * 32 * *", "cron day-of-month", "values must be in 1-31"),
        ("* * * 13 *", "cron month", "values must be in 1-12 or jan-dec"),
        ("* * * foo *", "cron month", "values must be in 1-12 or jan-dec"),
        ("* * * * 8", "cron day-of-week", "values must be in 0-7 or sun-sat"),
        ("*/0 * * * *", "cron minute", _FIELD_RULE),
        ("5/0 * * * *", "cron minute", _FIELD_RULE),
        ("*/² * * * *", "cron minute", _FIELD_RULE),
        ("² * * * *", "cron minute", _FIELD_RULE),
        ("* ٣ * * *", "cron hour", _FIELD_RULE),
        ("10-5 * * * *", "cron minute", "ranges must go from low to high (0-59)"),
        ("* * * dec-jan *", "cron month", "ranges must go from low to high"),
        ("1,,2 * * * *", "cron minute", _FIELD_RULE),
        # croniter's extensions are not unix cron: Vertex takes none of them
        ("0 0 L * *", "cron day-of-month", "values must be in 1-31"),
        ("0 0 * * 5#2", "cron day-of-week", _FIELD_RULE),
        ("H * * * *", "cron minute", "values must be in 0-59"),
        ("0 0 ? * *", "cron day-of-month", _FIELD_RULE),
        ("* * * *", "cron", "must be 5 fields"),
        ("* * * * * *", "cron", "must be 5 fields"),
        ("@daily", "cron", "must be 5 fields"),
        ("", "cron", "must be 5 fields"),
        ("tz=UTC * * * * *", "cron", "must be 5 fields"),
        ("TZ=Mars/Olympus * * * * *", "cron time zone", "must be an IANA time zone"),
        ("TZ=../etc/passwd * * * * *", "cron time zone", "must be an IANA time zone"),
        ("0 0 30 2 *", "cron", "never fires"),
    ],
)
def test_bad_expressions_name_the_field_and_what_is_allowed(expression, field, allowed):
    with pytest.raises(SpecError) as info:
        cron.parse(expression)
    assert info.value.field == field
    assert allowed in info.value.allowed
    assert str(info.value).startswith(field)


def test_naive_after_is_refused():
    with pytest.raises(ValueError, match="aware"):
        cron.parse("* * * * *").next_times(datetime(2026, 1, 1), 1)
