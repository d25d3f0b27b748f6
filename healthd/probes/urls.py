"""The orchestrator probes alone, at the root: ``healthz``, ``livez``, ``readyz``, ``startupz``,
``metrics``.

Each answers with and without a trailing slash.
"""

from django.urls import re_path

from healthd.probes import views as probes

urlpatterns = [
    re_path(r"^healthz/?$", probes.healthz, name="healthz"),
    re_path(r"^livez/?$", probes.livez, name="livez"),
    re_path(r"^readyz/?$", probes.readyz, name="readyz"),
    re_path(r"^startupz/?$", probes.startupz, name="startupz"),
    re_path(r"^metrics/?$", probes.metrics, name="metrics"),
]
