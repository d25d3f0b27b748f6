"""Seen from outside: the uptime page, its badges and the history API, and what they compute."""
