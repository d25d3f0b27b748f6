"""python-dockerflow's endpoints alone, at the root: ``path("",
include("healthd.urls_dockerflow"))``."""

from healthd.compat.dockerflow.urls import urlpatterns

__all__ = ["urlpatterns"]
