"""The record script (``record.lua``, next to this module): read once per process,
registered on the writer client, and the arguments every call of it begins with.

Recording a run (:mod:`healthd.store.recording`) and showing the silences
(:mod:`healthd.store.silences`) call the same script, so that what it decides (state,
news, silence windows, the outbox) is written in one place.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from redis.commands.core import Script

from healthd import conf
from healthd.store import client as redis_client
from healthd.store.keyspace import Keys, keys

SOURCE = Path(__file__).with_name("record.lua")


@functools.cache
def source() -> str:
    """The script's text, read from the package the first time a process asks."""
    return SOURCE.read_text(encoding="utf-8")


def record_script() -> Script:
    """The script on the writer client (called by its SHA, loaded when Redis lacks it)."""
    return redis_client.writer().register_script(source())


def script_keys() -> list[str]:
    """KEYS of every call: latest, transitions, outbox, silences, history backlog, and the
    notification groups by when they are due."""
    layout = keys()
    return [layout.latest, layout.transitions, layout.outbox, layout.silences,
            layout.history_backlog, layout.group_due]


def leading_args(silences: dict[str, dict[str, Any]] | None = None,
                 defer_unseen: bool = False, show_at: float | None = None) -> list[Any]:
    """The ARGV every call begins with (see the top of ``record.lua``): the settings, the
    mode, and the silences to store first (None: keep the stored ones)."""
    settings = conf.get()
    args: list[Any] = [float(settings.remind_every or 0),  # 0: no reminders
                       int(settings.outbox_maxlen),
                       "1" if defer_unseen else "0", Keys.outbox_group,
                       "" if show_at is None else show_at,
                       -1 if silences is None else len(silences)]
    for key, silence in (silences or {}).items():
        args += [key, json.dumps(silence)]
    return args
