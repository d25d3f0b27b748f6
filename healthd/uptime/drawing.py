"""The uptime page's drawing: each row's daily bars as inline SVG (each bar names its day's
figures in a ``<title>`` and shows them on hover or focus, no script), and the words that
say an incident or a span. No check message is ever drawn."""

from __future__ import annotations

import datetime as dt
import html

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from healthd.uptime.daily import Day, Incident, Row
from healthd.uptime.spans import DEGRADED, DOWN, NO_DATA, UP, missing_runs

# Bars: width, gap and height in pixels, with room above them for the day's figures.
BAR_WIDTH, BAR_GAP, BAR_HEIGHT, TIP_HEIGHT = 6, 2, 28, 16
LEVEL_NAMES = {UP: "up", DEGRADED: "degraded", DOWN: "down", NO_DATA: "no data"}


def format_span(span: dt.timedelta) -> str:
    """A duration as "45 s", "7 min", "3 h 20 min", "2 d 4 h"."""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _clock(moment: dt.datetime, today: dt.date, tz: dt.tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%H:%M}" if local.date() == today else f"{local:%d %b %H:%M}"


def incident_text(incident: Incident, now: dt.datetime, tz: dt.tzinfo) -> str:
    """"database failing 03:12-03:19, 7 min" (an en dash), or "... since 03:12, 12 min so far"."""
    today = now.astimezone(tz).date()
    began = _clock(incident.start, today, tz)
    took = format_span(incident.duration(now))
    silenced = " (silenced)" if incident.silenced else ""
    if incident.end is None:
        return f"{incident.name} {incident.status} since {began}, {took} so far{silenced}"
    ended = incident.end.astimezone(tz)
    same_day = ended.date() == incident.start.astimezone(tz).date()
    end_text = f"{ended:%H:%M}" if same_day else _clock(incident.end, today, tz)
    return f"{incident.name} {incident.status} {began}\u2013{end_text}, {took}{silenced}"


def day_title(row: Row, day: Day) -> str:
    """What a bar says of its day: the uptime, the runs, the worst state."""
    date = f"{day.date:%a %d %b %Y}"
    if day.level == NO_DATA:
        return f"{date}: no data"
    counts = (f"{day.uptime.runs:,} runs, {day.failures:,} failed, {day.warnings:,} warned, "
              f"{missing_runs(day.uptime):,} missing")
    text = f"{date}: {day.uptime} up ({counts}); {LEVEL_NAMES[day.level]}"
    if day.worst_state:
        text += f", worst state {day.worst_state}"
    if row.is_group and day.weakest:
        text += f"; lowest uptime: {day.weakest}"
    return text


def bars_svg(row: Row) -> SafeString:
    """The row's daily bars as inline SVG: each bar a focusable image named by its
    ``<title>``, with the day's uptime shown above the bars on hover or focus."""
    count = len(row.days)
    width = count * (BAR_WIDTH + BAR_GAP) - BAR_GAP
    height = TIP_HEIGHT + BAR_HEIGHT
    parts: list[str] = [format_html(
        '<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
        'viewBox="0 0 {} {}" role="group" aria-label="{}: one bar a day, the last {} days">',
        width, height, width, height, row.label, count)]
    for index, day in enumerate(row.days):
        x = index * (BAR_WIDTH + BAR_GAP)
        if index < count / 3:
            anchor, tip_x = "start", x
        elif index >= 2 * count / 3:
            anchor, tip_x = "end", x + BAR_WIDTH
        else:
            anchor, tip_x = "middle", x + BAR_WIDTH // 2
        tip = f"{day.date:%d %b}: " + ("no data" if day.level == NO_DATA
                                        else f"{day.uptime} up")
        parts.append(
            f'<g class="day {day.level}" tabindex="0" role="img" '
            f'data-date="{day.date.isoformat()}"><title>{html.escape(day_title(row, day))}</title>'
            f'<rect x="{x}" y="{TIP_HEIGHT}" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" rx="1"/>'
            f'<text class="tip" x="{tip_x}" y="11" text-anchor="{anchor}" aria-hidden="true">'
            f"{html.escape(tip)}</text></g>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or a number
