"""The admin's search over results is served by a trigram index on PostgreSQL; other
databases get no index and the same search."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory

from healthd.history import sql
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
    assert _uses(plan, INDEX), plan


@pytest.mark.skipif(connection.vendor == "postgresql", reason="other databases")
def test_other_databases_get_no_index():
    with connection.cursor() as cursor:
        names = {index for index in connection.introspection.get_constraints(
            cursor, CheckResult._meta.db_table)}
    assert INDEX not in names


def _and_its_partitions(index: str) -> set[str]:
    """The index and, on a partitioned table, each partition's share of it (which is what
    a plan names)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                       "WHERE inhparent = to_regclass(%s)", [index])
        return {index, *(name for (name,) in cursor.fetchall())}


def _uses(plan: str, index: str) -> bool:
    return any(re.search(rf"\b(?:on|using) {re.escape(name)}\b", plan)
               for name in _and_its_partitions(index))


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@pytest.mark.parametrize("per_page_of_matches", ["few", "many"])
def test_a_search_lists_its_matches_newest_first_on_every_page(admin_client, settings,
                                                               per_page_of_matches):
    """Few matches (counted exactly) are sorted apart from the time index on PostgreSQL;
    more than the count's cap are read in the index's order. Either way the pages are
    newest first, ties broken by id, and page after page covers every match once."""
    from healthd.admin.changelist import EstimatedCountPaginator

    # "many": more matches (150) than the count's cap, so paging ends at the cap.
    cap = 200 if per_page_of_matches == "few" else 140
    base = time.time() - 3600
    rows = [CheckResult(name="db", status="failing", message=f"refused {i}", duration=0.1,
                        checked_at=_at(base + (i // 2)))  # pairs share a time: ties
            for i in range(150)]
    rows += [CheckResult(name="db", status="passing", message="ok", duration=0.1,
                         checked_at=_at(base + i)) for i in range(50)]
    CheckResult.objects.bulk_create(rows)
    expected = list(CheckResult.objects.filter(message__startswith="refused")
                    .order_by("-checked_at", "-id").values_list("id", flat=True))
    url = "/admin/healthd/checkresult/"
    listed = []
    original_cap = EstimatedCountPaginator.count_cap
    EstimatedCountPaginator.count_cap = cap
    try:
        for page in (1, 2):
            response = admin_client.get(url, {"q": "refused", "p": page})
            assert response.status_code == 200
            changelist = response.context["cl"]
            assert changelist.list_per_page == 100
            listed += [row.id for row in changelist.result_list]
    finally:
        EstimatedCountPaginator.count_cap = original_cap
    assert listed == expected[:cap]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_few_matches_are_sorted_apart_from_any_index():
    """The order sorted_apart asks for is one no index gives: PostgreSQL has to find the
    matches (through the trigram index) and sort them, instead of walking the time
    index until a page of matches turns up."""
    from healthd.admin.changelist import sorted_apart

    searched = _searched("refused").order_by("-checked_at", "-id")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    walked = searched[:100].explain()
    apart = sorted_apart(searched)[:100].explain()
    assert _uses(walked, "healthd_result_time"), walked
    assert not _uses(apart, "healthd_result_time"), apart
    # (A partitioned table's plan names the column with its table.)
    assert re.search(r"COALESCE\((\w+\.)?checked_at\)", apart), apart
    assert re.search(r"COALESCE\((\w+\.)?id\)", apart), apart


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL index")
@pytest.mark.django_db(transaction=True)  # CONCURRENTLY cannot run inside a transaction
def test_the_migration_drops_the_trigram_index_and_makes_it_again():
    def exists() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [INDEX])
            return cursor.fetchone() is not None

    assert exists()
    sql.drop_search_index(connection)
    try:
        assert not exists()
    finally:
        sql.create_search_index(connection)
    assert exists()
