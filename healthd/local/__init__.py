"""What one web process knows of itself: its local checks, whether it is draining, and
its published state (issue: per-process readiness).

The shared verdict (the scheduled checks, in Redis) says whether the *site* is healthy;
this package says whether *this process* should receive traffic.
"""
