"""django-status's surface: its API and pages, its providers and stats, its URLs."""
