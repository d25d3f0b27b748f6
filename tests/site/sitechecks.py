"""A check for the standalone site under test (added with HEALTHD_EXTRA_CHECKS)."""

from __future__ import annotations

import os
from pathlib import Path


def flip() -> str:
    """Fails while the file named by HEALTHD_TEST_FLIP_FILE exists."""
    path = os.environ.get("HEALTHD_TEST_FLIP_FILE", "")
    if path and Path(path).exists():
        raise RuntimeError("flip was told to fail")
    return "flip is fine"
