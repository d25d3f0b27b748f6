"""The orchestrator probes alone, at the root: ``healthz``, ``livez``, ``readyz``, ``startupz``,
``metrics``."""

from healthd.probes.urls import urlpatterns

__all__ = ["urlpatterns"]
