"""Each replaced package's way of reading the checks: its own set, selection and shape.

The HTTP views (:mod:`healthd.views`) and the commands (:mod:`healthd.management`) of a
dialect answer from the same functions here, so ``/watchman/`` and ``manage.py
watchman`` (or ``/status/api/`` and ``manage.py status``) cannot drift apart. These
modules only read the cached state (:mod:`healthd.state`, :mod:`healthd.stats`); who may
see what, and how a refusal is answered, stays with the caller.
"""
