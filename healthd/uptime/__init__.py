"""Seen from outside: the uptime page, its badges and the history API, and what they compute.

Unlike the other status views these read the history in the database: bounded queries,
at most once a minute per process for the page and the uptime badges; the current state
comes from the cached Redis state.

- :mod:`~healthd.uptime.spans`: the uptime of one span, and its colour;
- :mod:`~healthd.uptime.daily`: each check's daily bars, windows and incidents;
- :mod:`~healthd.uptime.groups`: ``HEALTHD["GROUPS"]``, a group as one row;
- :mod:`~healthd.uptime.kept`: this process's copy of what the page shows;
- :mod:`~healthd.uptime.series`: the history API's series;
- :mod:`~healthd.uptime.access`: who may see the page and the badges;
- :mod:`~healthd.uptime.drawing`, :mod:`~healthd.uptime.page`: the page (``/status/uptime/``);
- :mod:`~healthd.uptime.badges`, :mod:`~healthd.uptime.badge_views`: the badges;
- :mod:`~healthd.uptime.history_api`: ``/status/api/history/<check>``.
"""
