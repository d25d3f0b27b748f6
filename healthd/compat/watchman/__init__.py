"""django-watchman's surface: its views, its reading of the checks, its URLs."""
