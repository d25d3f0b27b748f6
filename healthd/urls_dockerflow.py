"""python-dockerflow's endpoints alone."""

from django.urls import path

from healthd.views import dockerflow

urlpatterns = [
    path("__heartbeat__", dockerflow.heartbeat, name="heartbeat"),
    path("__lbheartbeat__", dockerflow.lbheartbeat, name="lbheartbeat"),
    path("__version__", dockerflow.version, name="version"),
]
