"""``storage``: save, read, size and delete a unique file in default_storage."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from healthd.checks.base import Observation


@dataclass(frozen=True)
class Storage:
    """A round trip through the default storage that leaves no file behind."""

    def run(self) -> Observation:
        """Pass with the round trip's duration; fail when a step fails or reads back wrong."""
        payload = uuid.uuid4().hex.encode()
        started = time.perf_counter()
        name = default_storage.save(f"healthd-check-{uuid.uuid4().hex}.txt", ContentFile(payload))
        try:
            with default_storage.open(name) as handle:
                if handle.read() != payload:
                    raise ValueError("file read back differs from the file written")
            if default_storage.size(name) != len(payload):
                raise ValueError("stored size differs from the size written")
        finally:
            default_storage.delete(name)
        latency = (time.perf_counter() - started) * 1000
        return Observation("file saved, read and deleted", value=round(latency, 2), unit="ms")
