"""django-watchman's endpoints alone: ``path("watchman/", include("healthd.urls_watchman"))``."""

from healthd.compat.watchman.urls import urlpatterns

__all__ = ["urlpatterns"]
