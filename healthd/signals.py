"""Signals healthd sends.

``check_failed``, ``check_recovered`` and ``check_changed`` are sent for each
transition, with keyword arguments ``check`` (the name), ``previous`` (the status
before), ``result`` (a :class:`healthd.checks.base.Result`), ``transition_id`` (unique
per transition), ``silenced`` (True while a silence covers the check) and
``suppressed_by`` (the name of the failing dependency that holds its notifications back,
or ''). Delivery is
at least once: after a worker dies mid-delivery the next one sends the transition
again, with the same ``transition_id`` — a receiver with side effects deduplicates on it.

``heartbeat_passed`` and ``heartbeat_failed`` are python-dockerflow's: sent on each
heartbeat with ``level`` (the highest Django check level seen).
"""

from django.dispatch import Signal

check_failed = Signal()
check_recovered = Signal()
check_changed = Signal()

heartbeat_passed = Signal()
heartbeat_failed = Signal()
