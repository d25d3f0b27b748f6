"""The admin of alerting: silences, and each transition's deliveries.

- :class:`SilenceAdmin`: make, edit and end silences (the current-state page links
  here with the check filled in);
- :class:`DeliveryAdmin`: every notification, its attempts and last error;
- :class:`DeliveryInline`: a transition's deliveries on its own admin page — the
  transition admin lists it in its ``inlines``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from healthd.admin.lookups import OfferedLookupsAdmin
from healthd.alerting import silences
from healthd.models import Delivery, Silence
from healthd.util import recurrence
from healthd.util.durations import format_duration, parse_duration

DELIVERY_FIELDS = ("channel_label", "reminder", "outcome", "attempts", "delivered_at",
                   "failed_at", "last_error")


class DeliveryInline(admin.TabularInline):
    """A transition's notifications: one row per channel (and reminder)."""

    model = Delivery
    fk_name = "transition"
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(OfferedLookupsAdmin):
    """Every notification sent or tried; written by the delivery task only."""

    list_display = ("created_at", "key", "channel_label", "reminder", "outcome", "attempts",
                    "delivered_at", "failed_at")
    list_filter = ("channel_label", ("delivered_at", admin.EmptyFieldListFilter),
                   ("failed_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "channel_label", "last_error")
    readonly_fields = ("transition", "key", "reminder", "channel", *DELIVERY_FIELDS,
                       "created_at", "updated_at")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _split_names(value: str) -> list[str]:
    return list(dict.fromkeys(name for name in re.split(r"[,\s]+", value or "") if name))


def _initial_time(value: object) -> datetime.datetime | None:
    """A time from the query string (``?starts_at=2026-01-31T22:00``), or None when it
    is not one: a bad value is left out, never a 500."""
    try:
        parsed = parse_datetime(str(value))
    except ValueError:  # well formed, but no such day or hour
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


class SilenceForm(forms.ModelForm):
    checks = forms.CharField(
        required=False,
        help_text="Check names, separated by commas; empty silences every check.")
    every = forms.CharField(
        required=False, max_length=100, label="Repeats",
        help_text='Empty: once, from the start to the end. To repeat, a cron expression '
                  'for when each window starts ("0 2 * * 0": Sundays at 02:00, with a '
                  'duration) or days and hours ("sun 02:00-04:00", "sat,sun 23:00-01:00"); '
                  'the end (if any) is when it stops repeating.')
    duration = forms.CharField(
        required=False, label="Each window lasts",
        help_text="With a cron expression: 90s, 15m, 2h, 1h30m, 1d.")
    time_zone = forms.CharField(
        required=False, max_length=64,
        help_text="The time zone of a repeating silence (IANA: Europe/Paris, UTC…); "
                  "empty: the site's.")
    reason = forms.CharField(required=False, max_length=silences.REASON_LONGEST,
                             widget=forms.Textarea)

    class Meta:
        model = Silence
        fields = ["checks", "starts_at", "ends_at", "every", "duration", "time_zone", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["checks"] = ", ".join(self.instance.checks or [])
            if self.instance.duration:
                self.initial["duration"] = format_duration(self.instance.duration)

    def clean_checks(self) -> list[str]:
        try:
            return silences.checked_names(_split_names(self.cleaned_data.get("checks", "")))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_time_zone(self) -> str:
        name = str(self.cleaned_data.get("time_zone") or "").strip()
        if name:
            try:
                recurrence.parse_zone(name)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts_at"), data.get("ends_at")
        every = str(data.get("every") or "").strip()
        length = str(data.get("duration") or "").strip()
        data["every"], data["duration"] = "", None
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "A silence ends after it starts.")
        if not every:
            if "ends_at" in data and not ends:
                self.add_error("ends_at", "A silence that does not repeat ends.")
            if length:
                self.add_error("duration", "A duration is for a repeating silence (with a "
                                           "cron expression).")
            if data.get("time_zone"):
                self.add_error("time_zone", "A time zone is for a repeating silence.")
            return data
        try:
            window = recurrence.parse_window(every)
            if window is not None:
                if length:
                    raise forms.ValidationError(
                        {"duration": "Days and hours say how long each window lasts: leave "
                                     "this empty."})
                data["every"], data["duration"] = window
            else:
                data["every"] = recurrence.normal_cron(every)
                if not length:
                    raise forms.ValidationError(
                        {"duration": "With a cron expression, say how long each window "
                                     "lasts (2h, 90m…)."})
                try:
                    data["duration"] = parse_duration(length)
                except ValueError as exc:
                    raise forms.ValidationError({"duration": str(exc)}) from None
        except ValueError as exc:
            self.add_error("every", f"{exc} (or days and hours: sun 02:00-04:00)")
        except forms.ValidationError as exc:
            self.add_error(None, exc)
        return data


@admin.register(Silence)
class SilenceAdmin(OfferedLookupsAdmin):
    """Planned quiet times: transitions are recorded, nobody is told."""

    form = SilenceForm
    list_display = ("__str__", "starts_at", "ends_at", "in_force", "reason", "created_by")
    list_filter = ("created_by",)
    search_fields = ("reason", "created_by")
    actions = ["end_now"]
    date_hierarchy = "starts_at"

    @admin.display(description="in force")
    def in_force(self, obj: Silence) -> str:
        now = timezone.now()
        if obj.ends_at is not None and obj.ends_at <= now:
            return "ended"
        if obj.every:
            return "yes (a window)" if obj.is_active(now) else "repeats"
        return "yes" if obj.starts_at <= now else "to come"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """``?checks=a,b`` (the current-state page's link) fills the checks in; an hour
        from now unless ``?starts_at=`` / ``?ends_at=`` say otherwise (a value that is
        not a time is left out)."""
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        initial["checks"] = ", ".join(_split_names(request.GET.get("checks", "")))
        initial["reason"] = str(initial.get("reason") or "")[:silences.REASON_LONGEST]
        now = timezone.now().replace(microsecond=0)
        starts = _initial_time(initial.pop("starts_at", None)) or now
        ends = _initial_time(initial.pop("ends_at", None))
        initial["starts_at"] = starts
        initial["ends_at"] = ends if ends and ends > starts else starts + datetime.timedelta(
            hours=1)
        return initial

    def save_model(self, request: HttpRequest, obj: Silence, form: Any, change: bool) -> None:
        if not change and not obj.created_by:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(description="End the selected silences now", permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = 0
        for silence in queryset:
            if silence.ends_at is None or silence.ends_at > timezone.now():
                silences.end(silence)
                ended += 1
        messages.success(request, f"Ended {ended} silence(s). A check whose state changed "
                                  "under a silence is told once, at its next run.")
