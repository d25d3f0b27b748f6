"""Every healthd endpoint: ``path("", include("healthd.urls"))``."""

from django.urls import include, path

app_name = "healthd"

urlpatterns = [
    path("", include("healthd.urls_dockerflow")),
]
