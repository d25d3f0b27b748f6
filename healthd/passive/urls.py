"""Pings of passive checks alone: ``path("healthd/ping/", include("healthd.passive.urls"))``."""

from django.urls import re_path

from healthd.passive import views as ping

urlpatterns = [
    re_path(r"^(?P<name>[A-Za-z0-9_.\-]+)/?$", ping.ping, name="healthd_ping"),
    re_path(r"^(?P<name>[A-Za-z0-9_.\-]+)/(?P<kind>start|fail)/?$", ping.ping,
            name="healthd_ping_kind"),
]
