"""The Redis side: write results, read them all in one round trip, detect transitions.

One module per concern:

- :mod:`~healthd.store.keyspace`: the name of every Redis key healthd uses, under the
  configured prefix made a Redis Cluster hash tag (default ``{healthd:}``), so the record
  script and the outbox work on a cluster;
- ``record.lua`` and :mod:`~healthd.store.script`: the record script, the one place that
  decides (atomically, once per run whatever the number of checks) each check's state
  after hysteresis, whether a change is news, which silence covers a check, and what the
  outbox is to tell;
- :mod:`~healthd.store.recording`: a run's results written through it
  (:func:`record_run`), and what it found (:class:`Recorded`, :class:`StateChange`);
- :mod:`~healthd.store.results`: a result as stored, encoded and decoded
  (:class:`StoredResult`);
- :mod:`~healthd.store.reads`: every latest result in one round trip (:class:`Snapshot`);
- :mod:`~healthd.store.latest`: the run intervals kept beside the results, and the
  forgetting of checks no longer configured;
- :mod:`~healthd.store.silences`: the silences' mirror, and showing them at once;
- :mod:`~healthd.store.counters`: the transition counters, for /metrics;
- :mod:`~healthd.store.client`: the per-process clients; :mod:`~healthd.store.health`:
  the views' reading of the state.

The names below are the package's public API (``from healthd import store``).
"""

from healthd.store.counters import transition_counts
from healthd.store.keyspace import Keys, hash_tagged, keys
from healthd.store.latest import INTERVALS_FIELD, forget_unconfigured, write_intervals
from healthd.store.reads import Snapshot, read_latest, read_latest_async, read_one, unseen
from healthd.store.recording import (
    Recorded,
    StateChange,
    Transition,
    queue_record,
    record,
    record_run,
    state_changes,
)
from healthd.store.results import Part, StoredResult, decode
from healthd.store.silences import (
    drop_silence,
    put_silence,
    put_silence_windows,
    replace_silences,
    show_silences,
)

__all__ = [
    "INTERVALS_FIELD",
    "Keys",
    "Part",
    "Recorded",
    "Snapshot",
    "StateChange",
    "StoredResult",
    "Transition",
    "decode",
    "drop_silence",
    "forget_unconfigured",
    "hash_tagged",
    "keys",
    "put_silence",
    "put_silence_windows",
    "queue_record",
    "read_latest",
    "read_latest_async",
    "read_one",
    "record",
    "record_run",
    "replace_silences",
    "show_silences",
    "state_changes",
    "transition_counts",
    "unseen",
    "write_intervals",
]
