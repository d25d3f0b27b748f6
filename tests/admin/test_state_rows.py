"""The current-state page's rows, built in Python: they read as the template made them."""

from __future__ import annotations

from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone

from healthd.admin import CheckRow, _strip
from healthd.admin.state_rows import rows_html

# The row as the page's template rendered it before the rows were built in Python.
TEMPLATE_ROW = Template(
    '{% for row in rows %}<tr class="healthd-check" data-check="{{ row.name }}">\n'
    '        <th><a href="{{ history_url }}?name={{ row.name|urlencode }}">{{ row.name }}</a>'
    '{% if not row.critical %} <small>(not critical)</small>{% endif %}{% if may_silence %} '
    '<small><a class="healthd-silence-check" href="{{ silence_url }}?checks='
    '{{ row.name|urlencode }}">silence</a></small>{% endif %}</th>\n'
    '        <td><span class="healthd-status healthd-{{ row.status }}">{{ row.status }}</span>'
    '</td>\n'
    '        <td>{{ row.since|date:"Y-m-d H:i:s"|default:"-" }}</td>\n'
    '        <td>{{ row.last_run|date:"Y-m-d H:i:s"|default:"-" }}</td>\n'
    "        <td>{{ row.age }}</td>\n"
    "        <td>{{ row.uptime_24h }}</td>\n"
    "        <td>{{ row.uptime_7d }}</td>\n"
    "        <td>{% if row.p95_ms is not None %}{{ row.p95_ms|floatformat:1 }} ms{% else %}-"
    "{% endif %}</td>\n"
    '        <td>{% if row.strip %}<svg class="healthd-strip" width="{{ strip_width }}" '
    'height="16" viewBox="0 0 {{ strip_width }} 16" role="img" aria-label="last results of '
    '{{ row.name }}">{{ row.strip_bars }}</svg>{% else %}-{% endif %}</td>\n'
    "        <td>{{ row.message|truncatechars:160 }}</td>\n"
    "      </tr>{% endfor %}")


def _rows() -> list[CheckRow]:
    at = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)  # before Paris's clocks change
    return [
        CheckRow(name="db & <cache> \"main\" 'x'", status="failing", critical=False,
                 message="refused <b>&</b> " + "é" * 300, since=at, last_run=at,
                 age_seconds=7300.0, uptime_24h="99.25 %", uptime_7d="-", p95_ms=12.25,
                 strip=_strip([("failing", at, 0.0125), ("passing", at, 2.5)])),
        CheckRow(name="plain", status="passing", critical=True, message="", since=None,
                 last_run=None, age_seconds=None, uptime_24h="-", uptime_7d="100.00 %",
                 p95_ms=None),
        CheckRow(name="naive time", status="stale", critical=True, message="x" * 160,
                 since=datetime(2026, 1, 2, 3, 4, 5), last_run=at, age_seconds=30.0,
                 uptime_24h="1.00 %", uptime_7d="0.00 %", p95_ms=0.05),
    ]


def test_rows_built_in_python_read_as_the_template_made_them():
    for zone in ("UTC", "Europe/Paris", "Asia/Kolkata"):
        with timezone.override(zone):
            rows = _rows()
            for may_silence in (True, False):
                expected = TEMPLATE_ROW.render(Context({
                    "rows": rows, "history_url": "/admin/healthd/checkresult/",
                    "silence_url": "/admin/healthd/silence/add/", "may_silence": may_silence,
                    "strip_width": 300}))
                built = "".join(rows_html(
                    rows, "/admin/healthd/checkresult/",
                    "/admin/healthd/silence/add/" if may_silence else None, 300))
                assert built == expected, zone
                assert "<cache>" not in built and "&lt;cache&gt;" in built
