"""Each web process's verdict, published to Redis under its instance name, so that every
pod is seen from one place (the admin, ``/metrics``, the worker).

Every process writes its own key, ``instance:<instance>/<pid>`` (see
:mod:`healthd.store.keyspace`), with a TTL of ``HEALTHD["INSTANCE_TTL"]``, and adds it
to the ``instances`` set. The processes of one pod (gunicorn's workers) share the
instance name; a reader groups them into a :class:`Pod`, which is ready only while
every live process of it is: a kubelet's probe lands on any one of them.

Writing never happens in the caller's thread: :func:`publish` hands the verdict to a
small thread of this process, which writes it, re-publishes it before the TTL runs out
(so a pod nobody probes is still seen), publishes at once when the process starts
draining, and removes the key when the process exits. A hand-written thread rather than
a scheduler library: it is one loop, and a web process must not block its requests (or
its event loop) on Redis.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from healthd import conf, store
from healthd.local import draining, verdict
from healthd.local.verdict import LocalVerdict
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.memo import FreshFor
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.local")

# How often the publishing thread looks at the drain flag (a shared byte, raised by
# gunicorn's arbiter): a drain is published within this.
WAKE_EVERY = 0.2


def instance_name() -> str:
    """``HEALTHD["INSTANCE"]``, else the HOSTNAME variable (a Kubernetes pod's name), else
    the host name."""
    return conf.get().instance or os.environ.get("HOSTNAME") or socket.gethostname()


def ttl() -> float:
    return float(conf.get().instance_ttl)


@dataclass(frozen=True)
class ProcessState:
    """One web process's published state."""

    instance: str
    pid: int
    ready: bool
    draining: bool
    failures: Mapping[str, str] = field(default_factory=dict)
    checked_at: float = 0.0
    published_at: float = 0.0
    # When this process last turned unready (draining aside); None while ready.
    unready_since: float | None = None
    # Those of ``failures`` most live pods share (healthd.local.shared): not counted.
    shared: tuple[str, ...] = ()

    @property
    def member(self) -> str:
        return f"{self.instance}/{self.pid}"

    def as_json(self) -> str:
        return json.dumps({
            "instance": self.instance, "pid": self.pid, "ready": self.ready,
            "draining": self.draining, "failures": dict(self.failures),
            "checked_at": self.checked_at, "published_at": self.published_at,
            "unready_since": self.unready_since, "shared": list(self.shared),
        })

    @classmethod
    def from_json(cls, raw: str | bytes) -> ProcessState | None:
        try:
            data = json.loads(raw)
            return cls(str(data["instance"]), int(data["pid"]), bool(data["ready"]),
                       bool(data["draining"]),
                       {str(k): str(v) for k, v in dict(data.get("failures") or {}).items()},
                       float(data.get("checked_at") or 0), float(data.get("published_at") or 0),
                       None if data.get("unready_since") is None
                       else float(data["unready_since"]),
                       tuple(str(name) for name in data.get("shared") or ()))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Pod:
    """The processes that publish under one instance name."""

    name: str
    processes: tuple[ProcessState, ...]

    @property
    def ready(self) -> bool:
        return all(p.ready for p in self.processes)

    @property
    def draining(self) -> bool:
        return any(p.draining for p in self.processes)

    @property
    def ready_count(self) -> int:
        return sum(1 for p in self.processes if p.ready)

    @property
    def failures(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for process in self.processes:
            merged.update(process.failures)
        return merged

    @property
    def own_failures(self) -> dict[str, str]:
        """The failing local checks its processes count (not shared by most pods)."""
        return {name: message for process in self.processes
                for name, message in process.failures.items() if name not in process.shared}

    @property
    def unready_since(self) -> float | None:
        """Since when a process of the pod has been unready for a reason of its own
        (draining is not one); None when none is."""
        times = [p.unready_since for p in self.processes
                 if not p.ready and not p.draining and p.unready_since is not None]
        return min(times, default=None)

    @property
    def reason(self) -> str:
        """Why the pod is unready, in a line: its own failing local checks, or draining;
        then the failing checks most pods share, which it does not count."""
        own, failures = self.own_failures, self.failures
        shared = {name: message for name, message in failures.items() if name not in own}
        line = "; ".join(f"{name}: {message}" for name, message in sorted(own.items()))
        if not line:
            line = "ready" if self.ready else "draining" if self.draining else "not ready"
        if shared:  # most pods fail these too (healthd.local.shared)
            line += "; shared, not counted: " + "; ".join(
                f"{name}: {message}" for name, message in sorted(shared.items()))
        return line


def summary(pods: list[Pod]) -> str:
    """"3 of 4 pods ready; web-7f9c: database: connection refused"."""
    ready = sum(1 for pod in pods if pod.ready)
    line = f"{ready} of {len(pods)} pod{'' if len(pods) == 1 else 's'} ready"
    for pod in pods:
        if not pod.ready:
            line += f"; {pod.name}: {pod.reason}"
    return line


# --- reading ------------------------------------------------------------------------------


def processes(client: redis_client.Client | None = None) -> list[ProcessState]:
    """Every live web process's state (two round trips); the members whose key expired
    are dropped from the set on the way. Raises the Redis errors: callers say why."""
    client = client or redis_client.reader()
    layout = store.keys()
    members = sorted(str(m) for m in client.smembers(layout.instances))
    if not members:
        return []
    raws = client.mget([layout.instance_process(m) for m in members])
    found, gone = [], []
    for member, raw in zip(members, raws, strict=True):
        state = None if raw is None else ProcessState.from_json(raw)
        if state is None:
            gone.append(member)
        else:
            found.append(state)
    if gone:
        client.srem(layout.instances, *gone)
    return found


def pods(client: redis_client.Client | None = None) -> list[Pod]:
    """The live processes grouped by instance name, sorted by name."""
    grouped: dict[str, list[ProcessState]] = {}
    for state in processes(client):
        grouped.setdefault(state.instance, []).append(state)
    return [Pod(name, tuple(sorted(grouped[name], key=lambda p: p.pid)))
            for name in sorted(grouped)]


def _read_pods_or_none() -> list[Pod] | None:
    try:
        return pods()
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        logger.debug("could not read the pods' states: %s", redact(exc))
        return None


# For /metrics: read at most once per CACHE_SECONDS in a process, as its other values are.
_recent = FreshFor(_read_pods_or_none)


def recent_pods() -> list[Pod] | None:
    """:func:`pods` as of at most CACHE_SECONDS ago; None when they could not be read."""
    return _recent.get()


def forget() -> None:
    """Drop this process's copy of the pods (tests)."""
    _recent.forget()


# --- publishing ---------------------------------------------------------------------------


def put(state: ProcessState, client: redis_client.Client | None = None,
        replaces: str | None = None) -> None:
    """Write one process's state with the TTL, in one round trip (``replaces``: a former
    member of the same process, removed)."""
    layout = store.keys()
    pipe = (client or redis_client.writer()).pipeline(transaction=False)
    if replaces is not None and replaces != state.member:
        pipe.delete(layout.instance_process(replaces))
    pipe.set(layout.instance_process(state.member), state.as_json(),
             px=max(1, int(ttl() * 1000)))
    pipe.sadd(layout.instances, state.member)
    pipe.execute()


class _Publisher:
    """This process's publishing thread and what it last published."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.handed: LocalVerdict | None = None
        self.unready_since: float | None = None
        self.published_at = 0.0
        self.published_draining = False
        self.member: str | None = None
        self.failing = False
        self.thread = threading.Thread(target=self.loop, name="healthd instance publisher",
                                       daemon=True)

    def hand(self, given: LocalVerdict) -> None:
        with self.lock:
            self.handed = given
        self.wake.set()

    def loop(self) -> None:
        while True:
            handed = self.wake.wait(WAKE_EVERY)
            self.wake.clear()
            with self.lock:
                given, self.handed = self.handed, None
            now = time.monotonic()
            drain_news = draining.is_draining() != self.published_draining
            due = now - self.published_at >= ttl() / 3
            if not (handed or drain_news or due):
                continue
            try:
                self.write(given or verdict.current())
            except Exception as exc:  # broad: the thread must outlive any one failure
                if not self.failing:
                    logger.warning("could not publish this process's state: %s", redact(exc))
                self.failing = True
            else:
                self.failing = False
            self.published_at = now

    def state_of(self, given: LocalVerdict) -> ProcessState:
        is_draining = given.draining or draining.is_draining()
        ready = given.ready and not is_draining
        if ready or is_draining:
            self.unready_since = None
        elif self.unready_since is None:
            self.unready_since = given.checked_at or time.time()
        return ProcessState(instance_name(), self.pid, ready, is_draining,
                            dict(given.failures), given.checked_at, time.time(),
                            self.unready_since, tuple(sorted(given.shared)))

    def write(self, given: LocalVerdict) -> None:
        state = self.state_of(given)
        put(state, replaces=self.member)  # a member renamed by a setting goes
        self.member = state.member
        self.published_draining = state.draining

    def withdraw(self) -> None:
        """Remove this process's state (it exits): it is gone at once, not after the TTL."""
        if self.member is None or os.getpid() != self.pid:
            return
        try:
            layout = store.keys()
            pipe = redis_client.writer().pipeline(transaction=False)
            pipe.delete(layout.instance_process(self.member))
            pipe.srem(layout.instances, self.member)
            pipe.execute()
        except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
            logger.debug("could not withdraw this process's state: %s", redact(exc))


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def start() -> None:
    """Start this process's publishing thread (once per process; again after a fork)."""
    _running()


def _running() -> _Publisher:
    global _publisher
    publisher = _publisher
    if publisher is not None and publisher.pid == os.getpid():
        return publisher
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():
            publisher = _Publisher()
            publisher.thread.start()
            atexit.register(publisher.withdraw)
            _publisher = publisher
        return _publisher


def publish(given: LocalVerdict) -> None:
    """Publish this process's verdict (never raises, never waits: a probe must not fail
    or slow down on Redis). The write happens in this process's publishing thread."""
    try:
        _running().hand(given)
    except Exception as exc:  # broad: never raises, whatever the cause
        logger.warning("could not hand this process's state over: %s", redact(exc))


def withdraw() -> None:
    """Remove this process's published state now (its server is about to exit)."""
    publisher = _publisher
    if publisher is not None:
        publisher.withdraw()
