"""Passive checks: the site's own periodic jobs and crons report in, and silence is a failure.

- :func:`monitored` (``healthd.monitored``): a decorated function or Celery task reports
  each run;
- ``HEALTHD["WATCH_PERIODIC_TASKS"]``: every enabled django-celery-beat row is watched,
  with no code (:mod:`healthd.passive.beat`, :mod:`healthd.passive.celery_runs`);
- ``POST /healthd/ping/<name>[/start|/fail]`` and ``healthd ping NAME -- command``, for
  jobs outside Django (:mod:`healthd.passive.views`, the ``healthd_ping`` command);
- the sweep (:func:`sweep`, run by ``healthd.tasks.sweep_passive``) records a check
  late when no success arrived within ``every + grace`` (:mod:`healthd.passive.sweeper`).

Every report (:mod:`healthd.passive.reports`) is a result recorded like any check's
(:mod:`healthd.passive.recording`). Which checks there are: :mod:`healthd.passive.declarations`;
when one is late: :mod:`healthd.passive.lateness`.
"""

from healthd.passive.celery_runs import register_task
from healthd.passive.declarations import check_named, declared, forget, known_names
from healthd.passive.decorator import monitored
from healthd.passive.reports import report_finish, report_start
from healthd.passive.sweeper import sweep

__all__ = ["check_named", "declared", "forget", "known_names", "monitored", "register_task",
           "report_finish", "report_start", "sweep"]
