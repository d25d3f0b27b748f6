"""Hostile input to the admin costs nothing: changelists take only the lookups they offer
(no ``?message__regex=`` from the URL), a bad initial value is left out rather than a
500, and a silence is de-duplicated and bounded wherever it is made."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone

from healthd.alerting import silences
from healthd.models import CheckResult, Delivery, Silence

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/healthd/checkresult/"


@pytest.fixture
def viewer(client, django_user_model):
    """A staff user who may view results, deliveries and silences, and nothing else."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    for codename in ("view_checkresult", "view_delivery", "view_silence", "view_transition"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return client


@pytest.fixture
def results():
    now = timezone.now()
    CheckResult.objects.bulk_create(
        CheckResult(name="database", status="failing" if n % 2 else "passing",
                    message="a" * 30 + "!", duration=0.01, checked_at=now - timedelta(minutes=n))
        for n in range(200))


@pytest.mark.parametrize("query", [
    "?message__regex=(a%2B)%2B%24",
    "?message__iregex=(a%2B)%2B%24",
    "?message__icontains=aaa",
    "?message=x",
    "?name__regex=.*",
    "?host__startswith=web",
    "?duration__gt=0",
    "?checked_at__week_day=2",
])
def test_a_lookup_the_changelist_does_not_offer_is_refused_at_once(viewer, results, query):
    started = time.perf_counter()
    response = viewer.get(CHANGELIST + query)
    assert time.perf_counter() - started < 0.5
    assert response.status_code == 400


def test_the_lookups_the_changelist_offers_still_work(viewer, results):
    now = timezone.now()
    for query, count in [("", 200), ("?name=database", 200), ("?status=failing", 100),
                         ("?status__exact=passing", 100), ("?q=aaaa", 200),
                         (f"?checked_at__year={now.year}", None),
                         ("?checked_at__gte=" + (now - timedelta(minutes=10)).strftime(
                             "%Y-%m-%d+%H:%M:%S"), None)]:
        response = viewer.get(CHANGELIST + query)
        assert response.status_code == 200, query
        if count is not None:
            assert response.context["cl"].result_count == count, query


def test_other_changelists_take_only_their_own_lookups(viewer):
    Delivery.objects.create(key="t1", channel="ops", channel_label="ops", last_error="x")
    assert viewer.get("/admin/healthd/delivery/?last_error__regex=x").status_code == 400
    assert viewer.get("/admin/healthd/transition/?message__regex=x").status_code == 400
    assert viewer.get("/admin/healthd/silence/?reason__regex=x").status_code == 400
    for query in ("?channel_label=ops", "?delivered_at__isempty=1", "?failed_at__isempty=1",
                  "?q=t1"):
        response = viewer.get("/admin/healthd/delivery/" + query)
        assert response.status_code == 200 and response.context["cl"].result_count == 1, query
    assert viewer.get("/admin/healthd/transition/?silenced__exact=1").status_code == 200


@pytest.mark.parametrize("query", [
    "?starts_at=garbage", "?ends_at=garbage", "?starts_at=2026-02-30T10:00",
    "?starts_at=garbage&ends_at=%00&reason=" + "x" * 2000, "?checks=" + "database," * 3000,
])
def test_the_silence_add_page_leaves_a_bad_initial_value_out(admin_client, query):
    response = admin_client.get("/admin/healthd/silence/add/" + query)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.initial["ends_at"] > form.initial["starts_at"]
    assert len(form.initial["reason"]) <= silences.REASON_LONGEST
    assert form.initial["checks"].count("database") <= 1


def test_a_time_given_in_the_query_string_is_taken(admin_client):
    response = admin_client.get("/admin/healthd/silence/add/?starts_at=2030-01-31T22:00")
    form = response.context["adminform"].form
    assert form.initial["starts_at"].isoformat().startswith("2030-01-31T22:00")
    assert form.initial["ends_at"] - form.initial["starts_at"] == timedelta(hours=1)


def _post(admin_client, checks: str, reason: str = "upgrade"):
    now = timezone.now()
    later = now + timedelta(hours=1)
    return admin_client.post("/admin/healthd/silence/add/", {
        "checks": checks, "reason": reason,
        "starts_at_0": now.strftime("%Y-%m-%d"), "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": later.strftime("%Y-%m-%d"), "ends_at_1": later.strftime("%H:%M:%S")})


def test_the_admin_makes_a_silence_of_each_check_once_and_bounds_its_reason(admin_client):
    response = _post(admin_client, "database, cache, " + "database," * 12_000)
    assert response.status_code == 302
    assert Silence.objects.get().checks == ["database", "cache"]
    long_reason = _post(admin_client, "database", reason="x" * 100_000)
    assert long_reason.status_code == 200 and Silence.objects.count() == 1
    assert "at most 500 characters" in long_reason.content.decode()
    unknown = _post(admin_client, ",".join(f"nope{n}" for n in range(12_000)))
    (error,) = unknown.context["adminform"].form.errors["checks"]
    assert error.startswith("not a configured check: nope0, ") and "and 11990 more" in error
    assert len(error) < 1000 and Silence.objects.count() == 1


def test_the_command_makes_a_silence_of_each_check_once_and_bounds_its_reason():
    call_command("healthd_silence", *(["database"] * 12_000), "cache", "--for", "1h")
    assert Silence.objects.get().checks == ["database", "cache"]
    with pytest.raises(CommandError, match="at most 500 characters, not 100000"):
        call_command("healthd_silence", "database", "--reason", "x" * 100_000)
    with pytest.raises(ValueError, match="at most 500"):
        silences.create(["database"], timedelta(hours=1), reason="x" * 501)
    assert Silence.objects.count() == 1


def test_a_silence_saved_by_other_means_holds_each_check_once():
    silence = Silence.objects.create(checks=["database"] * 5 + ["cache"],
                                     ends_at=timezone.now() + timedelta(hours=1))
    silence.refresh_from_db()
    assert silence.checks == ["database", "cache"]
