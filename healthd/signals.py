"""Signals healthd sends.

``check_failed``, ``check_recovered`` and ``check_changed`` are sent once per
transition, by :class:`healthd.store.StateChange` (also known by its old name,
``healthd.store.Transition``), with keyword arguments ``check`` (the name), ``previous``
(the status before) and ``result`` (a :class:`healthd.checks.base.Result`).

``heartbeat_passed`` and ``heartbeat_failed`` are python-dockerflow's: sent on each
heartbeat with ``level`` (the highest Django check level seen).
"""

from django.dispatch import Signal

check_failed = Signal()
check_recovered = Signal()
check_changed = Signal()

heartbeat_passed = Signal()
heartbeat_failed = Signal()
