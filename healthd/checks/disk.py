"""``disk``: free space where the site writes, against a threshold (a local check: each
web process judges the disk it sees, which may be its own node's or its own volume)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from healthd import conf
from healthd.checks.base import Observation, Status

MB = 1024 * 1024


def written_path() -> str:
    """Where the site writes: ``MEDIA_ROOT`` (Django's file storage) when set, else the
    temporary directory (where uploads and Python's temporary files go)."""
    return str(settings.MEDIA_ROOT or tempfile.gettempdir())


def existing_folder(path: str) -> str:
    """``path``, or its nearest folder that exists: a ``MEDIA_ROOT`` not made yet (a new
    deployment, before its first upload) is on the file system of the folder it will be
    made in, and its space is that file system's."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return str(folder)


@dataclass(frozen=True)
class Disk:
    """Fail when less than ``min_free_mb`` (default ``HEALTHD["LOCAL_DISK_MIN_FREE_MB"]``)
    is free on the file system holding ``path`` (default :func:`written_path`)."""

    path: str | None = None
    min_free_mb: float | None = None

    def run(self) -> Observation:
        path = self.path or written_path()
        wanted = self.min_free_mb
        if wanted is None:
            wanted = float(conf.get().local_disk_min_free_mb)
        free_mb = shutil.disk_usage(existing_folder(path)).free / MB
        if free_mb < wanted:
            return Observation(f"{free_mb:.0f} MB free on {path}, below {wanted:g} MB",
                               Status.FAILING, value=round(free_mb), unit="MB")
        return Observation(f"{free_mb:.0f} MB free on {path}", value=round(free_mb), unit="MB")
