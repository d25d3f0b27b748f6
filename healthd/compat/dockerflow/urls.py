"""python-dockerflow's endpoints alone, each with or without a trailing slash (as
dockerflow's middleware served them)."""

from django.urls import re_path

from healthd.compat.dockerflow import views as dockerflow

urlpatterns = [
    re_path(r"^__heartbeat__/?$", dockerflow.heartbeat, name="heartbeat"),
    re_path(r"^__lbheartbeat__/?$", dockerflow.lbheartbeat, name="lbheartbeat"),
    re_path(r"^__version__/?$", dockerflow.version, name="version"),
]
