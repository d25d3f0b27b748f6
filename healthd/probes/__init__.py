"""Orchestrator probes (``healthz``, ``livez``, ``readyz``, ``metrics``) and the answers served
before Django."""
