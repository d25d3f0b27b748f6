"""A repeating silence's windows: inside and outside, across midnight, in a time zone, and
on the days the clocks change (wall-clock times; a skipped start is right after the jump;
a repeated time counts once)."""

from __future__ import annotations

import datetime as dt

import pytest

from healthd.util.recurrence import (
    Recurrence,
    from_days_and_hours,
    instant,
    parse_cron,
    parse_window,
    parse_zone,
)

PARIS = parse_zone("Europe/Paris")
NEW_YORK = parse_zone("America/New_York")


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


def weekly_backup(zone: dt.tzinfo = PARIS) -> Recurrence:
    cron, duration = from_days_and_hours("sun", "02:00", "04:00")
    return Recurrence(cron, duration, zone)


def test_inside_and_outside_a_weekly_window_in_its_time_zone():
    backup = weekly_backup()
    # Sunday 2027-01-10, 02:00-04:00 in Paris (UTC+1) is 01:00-03:00 UTC.
    assert backup.windows(utc(2027, 1, 4), utc(2027, 1, 18)) == [
        (utc(2027, 1, 10, 1), utc(2027, 1, 10, 3)), (utc(2027, 1, 17, 1), utc(2027, 1, 17, 3))]
    assert backup.covers(utc(2027, 1, 10, 1))  # its first instant
    assert backup.covers(utc(2027, 1, 10, 2, 59, 59))
    assert not backup.covers(utc(2027, 1, 10, 3))  # its end is outside
    assert not backup.covers(utc(2027, 1, 10, 0, 59, 59))
    assert not backup.covers(utc(2027, 1, 11, 1, 30))  # a Monday
    # The same window in New York is five hours later in UTC.
    assert weekly_backup(NEW_YORK).covers(utc(2027, 1, 10, 8))
    assert not weekly_backup(NEW_YORK).covers(utc(2027, 1, 10, 2))


def test_a_window_across_midnight_belongs_to_the_day_it_starts():
    cron, duration = from_days_and_hours("sat", "23:00", "01:00")
    assert (cron, duration) == ("0 23 * * sat", dt.timedelta(hours=2))
    night = Recurrence(cron, duration, parse_zone("UTC"))
    assert night.covers(utc(2027, 1, 9, 23, 30))  # Saturday night
    assert night.covers(utc(2027, 1, 10, 0, 59))  # Sunday, after midnight
    assert not night.covers(utc(2027, 1, 10, 1))
    assert not night.covers(utc(2027, 1, 10, 23, 30))  # Sunday night is not Saturday


def test_the_day_the_clocks_go_forward():
    # Paris, 2027-03-28: 02:00 CET becomes 03:00 CEST (01:00 UTC). 02:00 does not exist:
    # the window starts right after the jump and lasts its two hours from there.
    assert weekly_backup().windows(utc(2027, 3, 27), utc(2027, 3, 29)) == [
        (utc(2027, 3, 28, 1), utc(2027, 3, 28, 3))]
    # The Sundays around it keep their local 02:00: 01:00 UTC before, 00:00 UTC after.
    assert weekly_backup().windows(utc(2027, 4, 3), utc(2027, 4, 5)) == [
        (utc(2027, 4, 4, 0), utc(2027, 4, 4, 2))]
    # A window ending in the skipped hour ends on the wall clock: 01:00-02:30 lasts 1 h.
    early = Recurrence(*from_days_and_hours("sun", "01:00", "02:30"), PARIS)
    assert early.windows(utc(2027, 3, 27), utc(2027, 3, 29)) == [
        (utc(2027, 3, 28, 0), utc(2027, 3, 28, 1))]
    assert instant(dt.datetime(2027, 3, 28, 2, 30), PARIS) == utc(2027, 3, 28, 1)


def test_the_day_the_clocks_go_back():
    # Paris, 2027-10-31: 03:00 CEST becomes 02:00 CET (01:00 UTC): 02:00-04:00 local is
    # three hours long, from the first 02:00 (00:00 UTC) to 04:00 CET (03:00 UTC).
    assert weekly_backup().windows(utc(2027, 10, 30), utc(2027, 11, 1)) == [
        (utc(2027, 10, 31, 0), utc(2027, 10, 31, 3))]
    # A time that happens twice fires once, at its first occurrence.
    half_past_two = Recurrence("30 2 * * *", dt.timedelta(minutes=10), PARIS)
    assert half_past_two.windows(utc(2027, 10, 30, 12), utc(2027, 10, 31, 12)) == [
        (utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 0, 40))]


def test_a_cron_expression_and_windows_that_overlap_are_merged():
    every_quarter = Recurrence("*/15 9-10 * * mon-fri", dt.timedelta(minutes=20),
                               parse_zone("UTC"))
    # Monday 2027-01-04: windows every 15 min lasting 20 min make one, 09:00-11:05.
    assert every_quarter.windows(utc(2027, 1, 4), utc(2027, 1, 5)) == [
        (utc(2027, 1, 4, 9), utc(2027, 1, 4, 11, 5))]
    assert every_quarter.windows(utc(2027, 1, 9), utc(2027, 1, 11)) == []  # the weekend
    assert len(Recurrence("0 * * * *", dt.timedelta(minutes=1), parse_zone("UTC")).windows(
        utc(2027, 1, 1), utc(2027, 2, 1), limit=5)) == 5


@pytest.mark.parametrize(("text", "says"), [
    ("0 2 * *", "five fields"),
    ("61 2 * * *", "61 > 59"),
    ("0 2 * * 8", "8 > 6"),
    ("0 2 31 2 *", "never occurs"),
    ("0 2 * * sunday-ish", "not a cron expression"),
])
def test_a_bad_cron_expression_says_what_is_wrong(text, says):
    with pytest.raises(ValueError, match="not a cron expression") as error:
        parse_cron(text)
    assert says in str(error.value)


def test_bad_zones_days_and_hours_are_named():
    with pytest.raises(ValueError, match="not a time zone: 'Europe/Pariss'"):
        parse_zone("Europe/Pariss")
    with pytest.raises(ValueError, match="not a time zone"):
        parse_zone("../etc/passwd")
    with pytest.raises(ValueError, match="not days of the week: 'weekend'"):
        from_days_and_hours("weekend", "02:00", "04:00")
    with pytest.raises(ValueError, match="not a time of day: '25:00'"):
        from_days_and_hours("sun", "25:00", "04:00")
    assert parse_window("Sun 02:00\u201304:00") == ("0 2 * * sun", dt.timedelta(hours=2))
    assert parse_window("sat,sun 22:30 to 23:00") == ("30 22 * * sat,sun",
                                                     dt.timedelta(minutes=30))
    assert parse_window("0 2 * * 0") is None  # a cron expression, not days and hours
