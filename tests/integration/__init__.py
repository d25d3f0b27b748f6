"""The whole site at once: every endpoint under arbitrary requests, and real processes
(workers, beat, gunicorn, a browser) through faults and outages."""
