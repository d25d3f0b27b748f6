"""django-status's endpoints alone: ``path("status/", include("healthd.urls_status"))``."""

from healthd.compat.status.urls import urlpatterns

__all__ = ["urlpatterns"]
