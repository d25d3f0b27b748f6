"""python-dockerflow's Django integration: ``__heartbeat__``, ``__lbheartbeat__``,
``__version__``."""
