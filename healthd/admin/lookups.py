"""Changelist filters limited to the lookups the admin itself offers.

Django's admin turns a query-string parameter into a lookup on the changelist's rows
whenever it names a local field, unless ``lookup_allowed`` says no: a staff user who may
only view results could send ``?message__regex=(a%2B)%2B%24`` (a catastrophic regex run
over every message: 10 s at 24 characters on SQLite, in the web worker) or
``?message__icontains=`` (a scan of millions of rows). healthd's admins allow only what
their own filters and date hierarchy put in a link; anything else is refused, which
Django answers with a 400 (``DisallowedModelAdminLookup``). Search (``?q=``) is no
lookup: it runs the admin's own ``search_fields``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

# The parameters Django's field list filters build for a field: all values
# (``field``, ``field__isnull``), choices and booleans (``field__exact``), dates
# (``field__gte``, ``field__lt``) and empty or not (``field__isempty``).
FIELD_FILTER_LOOKUPS = ("", "__exact", "__isnull", "__gte", "__lt", "__isempty")
DATE_HIERARCHY_LOOKUPS = ("__year", "__month", "__day")


def offered_lookups(list_filter: Any, date_hierarchy: str | None) -> frozenset[str]:
    """The query-string lookups a changelist's own filters and date hierarchy build."""
    offered: set[str] = set()
    for entry in list_filter or ():
        if isinstance(entry, type) and issubclass(entry, admin.SimpleListFilter):
            offered.add(str(entry.parameter_name))
            continue
        field = entry[0] if isinstance(entry, list | tuple) else entry
        offered.update(f"{field}{suffix}" for suffix in FIELD_FILTER_LOOKUPS)
    if date_hierarchy:
        offered.update(f"{date_hierarchy}{part}" for part in DATE_HIERARCHY_LOOKUPS)
    return frozenset(offered)


class OfferedLookupsAdmin(admin.ModelAdmin):
    """A ModelAdmin whose changelist takes only the lookups it offers (see the module)."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None
                       ) -> bool:
        list_filter = self.get_list_filter(request) if request is not None else self.list_filter
        return lookup in offered_lookups(list_filter, self.date_hierarchy)
