"""The admin's search over results is served by a trigram index on PostgreSQL; other
databases get no index and the same search."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory

from healthd.models import CheckResult

pytestmark = pytest.mark.django_db
INDEX = "healthd_result_search_trgm"


def _searched(term: str):
    model_admin = admin.site._registry[CheckResult]
    request = RequestFactory().get("/", {"q": term})
    queryset, _ = model_admin.get_search_results(request, CheckResult.objects.all(), term)
    return queryset


def test_the_admin_search_finds_a_message_on_any_database():
    now = time.time()
    CheckResult.objects.bulk_create([
        CheckResult(name="db", status="failing", message="Connection REFUSED by 10.0.0.1",
                    duration=0.1, checked_at=_at(now)),
        CheckResult(name="cache", status="passing", message="ok", duration=0.1,
                    checked_at=_at(now)),
    ])
    assert [r.name for r in _searched("refused")] == ["db"]
    assert [r.name for r in _searched("cach")] == ["cache"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL index")
def test_the_admin_search_can_use_the_trigram_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [INDEX])
        (definition,) = cursor.fetchone()
        assert "gin_trgm_ops" in definition
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = _searched("refused").order_by().values("id").explain()
    assert INDEX in plan, plan


@pytest.mark.skipif(connection.vendor == "postgresql", reason="other databases")
def test_other_databases_get_no_index():
    with connection.cursor() as cursor:
        names = {index for index in connection.introspection.get_constraints(
            cursor, CheckResult._meta.db_table)}
    assert INDEX not in names


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
