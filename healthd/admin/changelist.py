"""The changelist machinery for history tables of millions of rows.

What the stock admin does that scales with the table is replaced here: no full COUNT
(an estimate or a capped count), no DISTINCT over the table for the name filter (the
configured checks instead) or for the date hierarchy (the Min/Max of the filtered rows,
read from an index), and only index-backed orderings. The registrations in
``healthd.admin`` build on these.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR, ChangeList
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, Func, OrderBy, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst

from healthd.admin.lookups import OfferedLookupsAdmin
from healthd.checks import registry
from healthd.history.sql import estimated_row_count
from healthd.models import STATUS_CHOICES
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.admin")

# --- pagination without a full COUNT -------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """A paginator whose count never scans the whole table.

    Unfiltered, the count is the database's estimate when the table is large; otherwise
    rows are counted up to ``count_cap`` only. ``approximate`` tells the template to say
    "about" (estimate) or "more than" (cap reached).
    """

    # 10,000 rows is 100 pages of 100: enough to page through, and a count bounded to a
    # few milliseconds on a filtered index range (100,000 took 150 ms at 2 million rows).
    count_cap = 10_000

    approximate: str = ""

    def __init__(self, *args: Any, searched: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.searched = searched

    def page(self, number: Any) -> Any:
        if self._few_matches_of_a_search() and isinstance(self.object_list, QuerySet):
            self.object_list = sorted_apart(self.object_list)
        return super().page(number)

    def _few_matches_of_a_search(self) -> bool:
        """A search on PostgreSQL whose matches were counted exactly, and are few."""
        queryset = self.object_list
        if not (self.searched and isinstance(queryset, QuerySet)):
            return False
        if connections[queryset.db].vendor != "postgresql":
            return False
        return self.count <= self.count_cap and not self.approximate

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            if not queryset.query.where:
                estimate = estimated_row_count(queryset.model)
                if estimate is not None and estimate >= self.count_cap:
                    self.approximate = "about"
                    return estimate
            counted = queryset.order_by()[: self.count_cap + 1].count()
            if counted > self.count_cap:
                self.approximate = "more than"
                return self.count_cap
            return counted
        return super().count


def sorted_apart(queryset: QuerySet) -> QuerySet:
    """``queryset`` in the same order, sorted after its rows are found instead of read in
    order from an index.

    Why by hand: for a search term in 1 row of 1,000, PostgreSQL's cost model (its
    default ``random_page_cost``) prefers walking the time index until a page of matches
    turns up (hundreds of thousands of rows: 110 ms at 2,000,000 rows) over reading the
    few matches through the trigram index and sorting them (8 ms); no setting of
    Django's says "not that index". ``COALESCE(column)`` sorts as the column does, but
    no index serves it. Used only once the matches are counted and few.
    """
    ordering = queryset.query.order_by or queryset.model._meta.ordering
    apart: list[Any] = []
    for entry in ordering:
        if isinstance(entry, str):
            name = entry.lstrip("-")
            if name == "pk":
                name = queryset.model._meta.pk.name
            apart.append(OrderBy(Func(F(name), function="COALESCE"),
                                 descending=entry.startswith("-")))
        elif isinstance(entry, OrderBy):
            apart.append(OrderBy(Func(entry.expression, function="COALESCE"),
                                 descending=entry.descending))
        else:
            apart.append(entry)
    return queryset.order_by(*apart)


# --- a date hierarchy that reads an index, not a DISTINCT over the table --------------


def _local(value: datetime.datetime) -> datetime.datetime:
    """A stored time in the current time zone (naive values as they are)."""
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _month_starts(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        if current.month < 12:
            current = current.replace(month=current.month + 1)
        elif current.year < datetime.MAXYEAR:
            current = current.replace(year=current.year + 1, month=1)
        else:
            break
    return months


def date_range(queryset: QuerySet, field_name: str
               ) -> tuple[datetime.datetime, datetime.datetime] | None:
    """The first and last ``field_name`` of the rows, in one query of two index probes.

    As two ordered subqueries of one row each rather than ``Min()`` and ``Max()`` in one
    aggregate: SQLite reads an index's end for a lone MIN or MAX only, and for both at
    once it read all 2,000,000 index entries (250 ms); PostgreSQL probes either way.
    """
    ordered = queryset.order_by().values(field_name)
    first = Subquery(ordered.order_by(field_name)[:1])
    last = Subquery(ordered.order_by(f"-{field_name}")[:1])
    row = (queryset.model._default_manager.using(queryset.db).order_by()
           .annotate(first=first, last=last).values_list("first", "last")[:1])
    found = list(row)
    if not found or found[0][0] is None or found[0][1] is None:
        return None
    return found[0][0], found[0][1]


class HistoryChangeList(ChangeList):
    """A ChangeList that sorts only by indexed columns and reads dates from an index.

    Django's date hierarchy lists the dates that hold rows (``QuerySet.datetimes``: a
    DISTINCT over every matching row); the range from Min/Max costs two index probes. A
    date without rows is an empty page, a fair price on a table written every few
    seconds. Sorting is limited to ``sortable_by`` (Django only hides the other column
    headers; a hand-made ``?o=`` would still sort millions of rows).
    """

    def get_ordering(self, request: HttpRequest, queryset: QuerySet) -> list:
        if ORDER_VAR in self.params:
            allowed = []
            for part in str(self.params[ORDER_VAR]).split("."):
                index = part.rpartition("-")[2]
                if (index.isdigit() and int(index) < len(self.list_display)
                        and self.list_display[int(index)] in (self.sortable_by or ())):
                    allowed.append(part)
            if allowed:
                self.params[ORDER_VAR] = ".".join(allowed)
            else:
                del self.params[ORDER_VAR]
        return super().get_ordering(request, queryset)

    def get_filters(self, request: HttpRequest) -> tuple:
        """Django's filters, except that a date whose range would end past the last day of
        the calendar (year 9999) is an open range: an empty page, not an OverflowError."""
        start = self._start_of_unending_date_range()
        if start is None:
            return super().get_filters(request)
        field_name = self.date_hierarchy
        full_params = self.filter_params
        self.filter_params = {key: value for key, value in full_params.items()
                              if not key.startswith(f"{field_name}__")}
        try:
            specs, has_filters, lookup_params, duplicates, active = super().get_filters(request)
        finally:
            self.filter_params = full_params
        lookup_params[f"{field_name}__gte"] = [start]  # type: ignore[assignment]
        return specs, has_filters, lookup_params, duplicates, active

    def _start_of_unending_date_range(self) -> datetime.datetime | None:
        """The chosen date when the range Django would build for it cannot end, else None."""
        if not self.date_hierarchy:
            return None
        params = self.filter_params
        parts = [params.get(f"{self.date_hierarchy}__{part}") for part in ("year", "month", "day")]
        if parts[0] is None:
            return None
        try:
            year, month, day = (int(value[-1]) if value else 1 for value in parts)
            start = datetime.datetime(year, month, day)
        except (TypeError, ValueError):
            return None  # not a date: Django answers that itself
        if parts[2]:
            length = datetime.timedelta(days=1)
        elif parts[1]:
            length = datetime.timedelta(days=31)
        else:
            length = datetime.timedelta(days=366)
        try:
            end = start + length
            if settings.USE_TZ:
                timezone.make_aware(end)
            return None
        except (OverflowError, ValueError):
            return timezone.make_aware(start) if settings.USE_TZ else start

    @cached_property
    def fast_date_hierarchy(self) -> dict[str, Any]:
        field_name = self.date_hierarchy
        year_field, month_field, day_field = (f"{field_name}__{part}"
                                              for part in ("year", "month", "day"))
        year = self.params.get(year_field)
        month = self.params.get(month_field)
        day = self.params.get(day_field)

        def link(filters: dict[str, Any]) -> str:
            return self.get_query_string(filters, [f"{field_name}__"])

        if year and month and day:
            chosen = datetime.date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {"link": link({year_field: year, month_field: month}),
                         "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT"))},
                "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
            }
        bounds = date_range(self.queryset, field_name)
        if bounds is None:
            return {"show": False}
        first, last = _local(bounds[0]), _local(bounds[1])
        if not (year or month) and first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
        if year and month:
            days = [first.date() + datetime.timedelta(days=n)
                    for n in range((last.date() - first.date()).days + 1)]
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {"link": link({year_field: year, month_field: month, day_field: d.day}),
                     "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT"))}
                    for d in days
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": "All dates"},
                "choices": [
                    {"link": link({year_field: year, month_field: m.month}),
                     "title": capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT"))}
                    for m in _month_starts(first.date(), last.date())
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [{"link": link({year_field: str(y)}), "title": str(y)}
                        for y in range(first.year, last.year + 1)],
        }


# --- filters ---------------------------------------------------------------------------


class ConfiguredCheckFilter(admin.SimpleListFilter):
    """Filter by check name; the choices are the configured checks, not a DISTINCT query."""

    title = "check"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        try:
            names = [check.name for check in registry.configured_checks()]
        except ImproperlyConfigured as exc:  # it must not take the history page down
            logger.warning("the check filter lists no checks: %s", redact(exc))
            names = []
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(name=self.value())
        return queryset


class FixedStatusFilter(admin.SimpleListFilter):
    """Filter by status from the fixed list of statuses, not a DISTINCT over the table."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return list(STATUS_CHOICES)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(status=self.value())
        return queryset


class ReadOnlyAdmin(OfferedLookupsAdmin):
    """History and state are written by the workers only: nothing to add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyHistoryAdmin(ReadOnlyAdmin):
    """History is written by the workers and pruned by retention, never edited by hand."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return HistoryChangeList

    def get_paginator(self, request: HttpRequest, queryset: QuerySet, per_page: int,
                      orphans: int = 0, allow_empty_first_page: bool = True) -> Paginator:
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page,
                              searched=bool(request.GET.get(SEARCH_VAR)))
