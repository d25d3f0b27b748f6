"""The current-state page's rows as HTML, built in Python once per row.

With 200 checks the template's loop resolved about 25 variables and filters per row
(5,000 for the page), which cost more than every query of the page; here each row is one
f-string, escaped by the standard library's ``html.escape`` (which Django's ``escape``
wraps) and formatted as the template's filters did (``date:"Y-m-d H:i:s"`` in the current
time zone, ``floatformat:1``, ``truncatechars:160``, ``urlencode``), so the page reads the
same. Hand-written rather than a template because a template is what costs here.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

if TYPE_CHECKING:
    from healthd.admin import CheckRow

MESSAGE_CHARS = 160


def shown_time(value: datetime.datetime | None) -> str:
    """As ``{{ value|date:"Y-m-d H:i:s"|default:"-" }}``: in the current time zone."""
    if value is None:
        return "-"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.isoformat(" ", "seconds")[:19]


def row_html(row: CheckRow, history_url: str, silence_url: str | None,
             strip_width: int) -> str:
    """One check's ``<tr>``; ``silence_url`` None when the user may not add a silence."""
    name = escape(row.name)
    quoted = escape(quote(row.name))
    critical = "" if row.critical else " <small>(not critical)</small>"
    silence = ("" if silence_url is None else
               f' <small><a class="healthd-silence-check" href="{escape(silence_url)}'
               f'?checks={quoted}">silence</a></small>')
    status = escape(row.status)
    p95 = "-" if row.p95_ms is None else f"{floatformat(row.p95_ms, 1)} ms"
    strip = (f'<svg class="healthd-strip" width="{strip_width}" height="16" viewBox="0 0 '
             f'{strip_width} 16" role="img" aria-label="last results of {name}">'
             f"{row.strip_bars}</svg>" if row.strip else "-")
    message = escape(Truncator(row.message).chars(MESSAGE_CHARS))
    return (
        f'<tr class="healthd-check" data-check="{name}">\n'
        f'        <th><a href="{escape(history_url)}?name={quoted}">{name}</a>'
        f"{critical}{silence}</th>\n"
        f'        <td><span class="healthd-status healthd-{status}">{status}</span></td>\n'
        f"        <td>{shown_time(row.since)}</td>\n"
        f"        <td>{shown_time(row.last_run)}</td>\n"
        f"        <td>{escape(row.age)}</td>\n"
        f"        <td>{escape(row.uptime_24h)}</td>\n"
        f"        <td>{escape(row.uptime_7d)}</td>\n"
        f"        <td>{p95}</td>\n"
        f"        <td>{strip}</td>\n"
        f"        <td>{message}</td>\n"
        f"      </tr>")


def rows_html(rows: Sequence[CheckRow], history_url: str, silence_url: str | None,
              strip_width: int) -> list[SafeString]:
    """Every row's HTML, each escaped where it has to be (see row_html)."""
    return [mark_safe(row_html(row, history_url, silence_url, strip_width))  # noqa: S308
            for row in rows]
