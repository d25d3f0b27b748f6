"""Groups of checks on the status page (``HEALTHD["GROUPS"]``): a group is one row, each
day as bad as its worst member, each uptime its least available member's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from healthd import conf
from healthd.history.reports import Uptime
from healthd.uptime.daily import Day, History, Row
from healthd.uptime.spans import NO_DATA, PERIODS, worse_level, worse_state


def _least(uptimes: list[tuple[str, Uptime]]) -> tuple[str, Uptime] | None:
    """The (name, uptime) with the lowest ratio; None when none can be measured."""
    measured = [(name, u) for name, u in uptimes if u.ratio is not None]
    if not measured:
        return None
    return min(measured, key=lambda item: item[1].ratio or 0.0)


def group_row(label: str, members: Sequence[Row]) -> Row:
    """A group's row: each day as bad as its worst member, each uptime its least
    available member's (a group of services is as available as its weakest part)."""
    names = tuple(name for row in members for name in row.members)
    days = []
    for index, first in enumerate(members[0].days):
        member_days = [(row.label, row.days[index]) for row in members]
        least = _least([(name, day.uptime) for name, day in member_days])
        worst_level, worst_state = NO_DATA, None
        for _, day in member_days:
            worst_level = worse_level(worst_level, day.level)
            worst_state = worse_state(worst_state, day.worst_state)
        days.append(Day(
            date=first.date,
            runs=sum(day.runs for _, day in member_days),
            failures=sum(day.failures for _, day in member_days),
            warnings=sum(day.warnings for _, day in member_days),
            uptime=least[1] if least else first.uptime,
            worst_state=worst_state, level=worst_level,
            weakest=least[0] if least else None,
        ))
    windows, weakest = {}, {}
    for period in PERIODS:
        least = _least([(row.label, row.windows[period]) for row in members])
        windows[period] = least[1] if least else members[0].windows[period]
        if least:
            weakest[period] = least[0]
    return Row(label, names, tuple(days), windows, weakest)


def page_rows(history: History, groups: Mapping[str, Sequence[str]] | None) -> list[Row]:
    """The page's rows: each group (in the order given) with the members that are
    configured, then every check in no group, in the configured order."""
    rows: list[Row] = []
    grouped: set[str] = set()
    for label, members in (groups or {}).items():
        present = [history.rows[name] for name in members if name in history.rows]
        if present:
            rows.append(group_row(str(label), present))
            grouped.update(row.label for row in present)
    rows += [row for name, row in history.rows.items() if name not in grouped]
    return rows


def configured() -> dict[str, list[str]]:
    """``HEALTHD["GROUPS"]``: ``{label: [check names]}`` (empty when not set)."""
    return dict(conf.get().groups)
