"""Every Redis key healthd uses, named in one place, under one Redis Cluster hash tag.

The configured key prefix (default ``healthd:``) is made a hash tag (``{healthd:}``), so
every key hashes to one slot: the record script touches several keys at once, and a
cluster runs a script only on keys of one slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from healthd import conf


def hash_tagged(prefix: str) -> str:
    """The key prefix as one Redis Cluster hash tag: ``healthd:`` becomes ``{healthd:}``.

    Every key healthd writes starts with it, so all of them live in one slot: the record
    script touches several keys at once, and a cluster runs a script only on keys of one
    slot. A prefix that carries a hash tag already (``{site}:healthd:``) is kept as it is.
    """
    opening = prefix.find("{")
    if opening >= 0 and prefix.find("}", opening + 1) > opening + 1:  # Redis's own rule
        return prefix
    return "{" + (prefix or "healthd") + "}"


@dataclass(frozen=True)
class Keys:
    """The name of every Redis key healthd uses, under one prefix made a hash tag
    (:func:`hash_tagged`), so that all of them live in one Redis Cluster slot.

    The results:

    - ``latest``: a hash, one field per check holding its latest result (JSON) and its
      state after hysteresis, plus ``:intervals`` (each check's real run interval, from
      its beat row; see :mod:`healthd.store.latest`);
    - ``transitions``: a hash of transition counts per check, for /metrics;
    - ``history-backlog`` / ``history-dead-letter``: lists of results the database did
      not take yet, and of those it refused;
    - ``stats``: the JSON the ``gather_stats`` task stores;
    - ``run-lock:<digest>``: a run of one selection of checks in progress
      (:meth:`run_lock`).

    Alerting:

    - ``outbox``: a stream, one entry per thing to tell (a transition or a reminder),
      appended by the record script (``record.lua``); read through the consumer group
      :attr:`outbox_group` (see :mod:`healthd.alerting.outbox`) and trimmed to what is
      not yet delivered;
    - ``outbox-progress``: a hash, ``<entry>:<step>`` for each step of a delivery done,
      so an entry taken again after a crash repeats only what was not done;
    - ``silences``: a hash, one field per :class:`healthd.models.Silence` (its id; a
      repeating one has one per window, ``<id>@<start>``) holding
      ``{"checks", "starts_at", "ends_at"}``, read by the record script;
    - ``deliveries``: a hash of notification counters, ``<channel>\t<outcome>``, for /metrics;
    - ``groups``: a hash, the open notification group of each channel (its id, when it is
      due, whether it is a follow-up); ``group-members``: ``<group>\t<channel>`` to the
      ids of its events, one a line; ``group-events``: ``<group>\t<channel>\t<event id>``
      to the event; ``group-due``: a sorted set of ``<group>\t<channel>`` by the time it is
      due (or its flusher's lease ends); ``group-last``: each channel's last flush time
      (see :mod:`healthd.alerting.grouping`).

    Passive checks (:mod:`healthd.passive`):

    - ``passive:<name>``: a hash, one check's bookkeeping (its definition, last success,
      a run started, the one-shot sweep armed for it);
    - ``passive-checks``: a set, the names of every passive check that has reported.

    Web processes (:mod:`healthd.local.instances`):

    - ``instance:<instance>/<pid>``: one web process's published state (JSON), with a TTL,
      so a process that dies disappears;
    - ``instances``: a set of the ``<instance>/<pid>`` that published, pruned by readers of
      the members whose key expired.
    """

    prefix: str
    # The outbox's consumer group: the record script asks it whether anything waits.
    outbox_group: ClassVar[str] = "delivery"

    @property
    def tagged(self) -> str:
        return hash_tagged(self.prefix)

    @property
    def latest(self) -> str:
        return f"{self.tagged}latest"

    @property
    def transitions(self) -> str:
        return f"{self.tagged}transitions"

    @property
    def history_backlog(self) -> str:
        return f"{self.tagged}history-backlog"

    @property
    def history_dead_letter(self) -> str:
        return f"{self.tagged}history-dead-letter"

    @property
    def stats(self) -> str:
        return f"{self.tagged}stats"

    def run_lock(self, names: list[str] | None, by_hand: bool = False) -> str:
        """The lock of a run of these checks (None or none: every check), short-lived and
        shared by every process, so a doubled beat or a double click runs them once.

        A run queued by hand (the admin's "run now") has a lock of its own, apart from
        the schedule's: one does not hold up the other.
        """
        selection = ",".join(sorted(names)) if names else "*"
        digest = hashlib.sha1(selection.encode(), usedforsecurity=False).hexdigest()[:16]
        return f"{self.tagged}run-lock:{'run-now-' if by_hand else ''}{digest}"

    @property
    def run_lock_pattern(self) -> str:
        return f"{self.tagged}run-lock:*"

    @property
    def outbox(self) -> str:
        return f"{self.tagged}outbox"

    @property
    def outbox_progress(self) -> str:
        return f"{self.tagged}outbox-progress"

    @property
    def silences(self) -> str:
        return f"{self.tagged}silences"

    @property
    def deliveries(self) -> str:
        return f"{self.tagged}deliveries"

    @property
    def groups(self) -> str:
        return f"{self.tagged}groups"

    @property
    def group_members(self) -> str:
        return f"{self.tagged}group-members"

    @property
    def group_events(self) -> str:
        return f"{self.tagged}group-events"

    @property
    def group_due(self) -> str:
        return f"{self.tagged}group-due"

    @property
    def group_last(self) -> str:
        return f"{self.tagged}group-last"

    def passive_check(self, name: str) -> str:
        """The hash of one passive check's bookkeeping."""
        return f"{self.tagged}passive:{name}"

    @property
    def passive_names(self) -> str:
        return f"{self.tagged}passive-checks"

    def instance_process(self, member: str) -> str:
        """One web process's published state (``member``: ``<instance>/<pid>``)."""
        return f"{self.tagged}instance:{member}"

    @property
    def instances(self) -> str:
        return f"{self.tagged}instances"

    @property
    def workers_replacing(self) -> str:
        """Celery workers being replaced (healthd.tasks.replacing): name -> until when."""
        return f"{self.tagged}workers-replacing"

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key healthd writes under this prefix."""
        return f"{self.tagged}*"

    def all_fixed(self) -> tuple[str, ...]:
        """Every key that is not per run or per passive check (for cleaning up after a
        test)."""
        return (self.latest, self.transitions, self.history_backlog,
                self.history_dead_letter, self.stats, self.outbox, self.outbox_progress,
                self.silences, self.deliveries, self.passive_names, self.groups,
                self.group_members, self.group_events, self.group_due, self.group_last,
                self.instances, self.workers_replacing)


def keys() -> Keys:
    """The key layout under the configured prefix, read at call time."""
    return Keys(conf.get().key_prefix)
