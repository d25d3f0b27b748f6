"""Small helpers that know nothing of Django's request cycle: redaction, durations, memos,
bounded threads."""
