"""Keep ``healthd run``'s processes running: restart one that dies, stop all on request.

A small loop rather than a kept supervisor: honcho stops every process when one exits
(by design); supervisord runs as a daemon of its own configured by an ini file,
restarts a process that dies after its start-up period at once, without backoff, and
gives up on one that keeps dying early; circus brings ZeroMQ, tornado and psutil
along. What this one does:

- each process runs in a process group of its own, so a dead one's leftovers (gunicorn
  workers holding the port, pool processes) are killed with it before it is restarted;
- a process that dies is restarted after a delay that doubles while it keeps dying
  soon after starting (1 s, 2 s, 4 s ... at most 30 s), and every death and restart is
  logged and counted; the others keep running;
- :meth:`Supervisor.stop` (Ctrl-C, SIGTERM) sends SIGTERM to each process (which stops
  its own workers: gunicorn's, Celery's pool), waits, then kills what is left of each
  group;
- each output line is prefixed with the process's name;
- where util-linux's ``setpriv`` is found (Linux), each process is started through
  ``setpriv --pdeathsig TERM``: should the supervisor itself be killed (SIGKILL, the OOM
  killer), each process gets SIGTERM and stops its own workers, instead of living on
  without a supervisor and holding the port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO


def die_with_supervisor() -> list[str]:
    """The command prefix that has a process sent SIGTERM when its parent dies (Linux's
    parent-death signal, set by util-linux's ``setpriv``), or none where it is missing."""
    found = shutil.which("setpriv")
    return [found, "--pdeathsig", "TERM", "--"] if found else []


FIRST_DELAY = 1.0
MAX_DELAY = 30.0
# A process that ran this long before dying was healthy: its next restart waits FIRST_DELAY.
STEADY_AFTER = 30.0


@dataclass
class Child:
    """One supervised program and its current process."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay: float = FIRST_DELAY
    restart_at: float | None = None
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def describe_exit(returncode: int) -> str:
    """``exit status 1`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class Supervisor:
    """Starts the programs, restarts any that dies, stops them all on request."""

    def __init__(self, programs: Mapping[str, list[str]], env: Mapping[str, str],
                 say: Callable[[str], None], out: IO[bytes], cwd: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.children = {name: Child(name, list(argv)) for name, argv in programs.items()}
        self.env = dict(env)
        self.say = say
        self.out = out
        self.cwd = cwd
        self.clock = clock
        self.width = max(len(name) for name in self.children)
        self.prefix = die_with_supervisor()
        self.lock = threading.Lock()

    # --- starting --------------------------------------------------------------------

    def start(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        # Started from the thread that runs the supervisor's loop, which lives as long as
        # the supervisor: the parent-death signal follows the thread that started a process.
        child.process = subprocess.Popen(
            [*self.prefix, *child.argv], env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        child.started_at = self.clock()
        child.restart_at = None
        child.reader = threading.Thread(target=self._copy_output, args=(child, child.process),
                                        name=f"output of {child.name}", daemon=True)
        child.reader.start()
        again = f" (restart {child.restarts})" if child.restarts else ""
        self.say(f"{child.name} started (pid {child.process.pid}){again}")

    def _copy_output(self, child: Child, process: subprocess.Popen) -> None:
        prefix = f"{child.name.ljust(self.width)} | ".encode()
        if process.stdout is None:  # _spawn asks for a pipe: there is always one
            return
        for line in iter(process.stdout.readline, b""):
            self.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
        process.stdout.close()

    def write(self, data: bytes) -> None:
        """Write whole lines to the shared output, one writer at a time."""
        with self.lock:
            self.out.write(data)
            self.out.flush()

    # --- watching --------------------------------------------------------------------

    def check(self) -> None:
        """Reap the processes that died, and start those whose delay has passed."""
        now = self.clock()
        for child in self.children.values():
            if child.process is not None and child.restart_at is None:
                code = child.process.poll()
                if code is not None:
                    self._died(child, child.process, code, now)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)

    def _died(self, child: Child, process: subprocess.Popen, code: int, now: float) -> None:
        ran = now - child.started_at
        self._kill_group(process.pid, signal.SIGKILL)  # what it left behind
        if ran >= STEADY_AFTER:
            child.delay = FIRST_DELAY
        wait = child.delay
        child.delay = min(MAX_DELAY, child.delay * 2)
        child.restart_at = now + wait
        self.say(f"{child.name} (pid {process.pid}) died after {ran:.1f} s "
                 f"({describe_exit(code)}); restarting it in {wait:g} s "
                 f"(restart {child.restarts + 1}); the others keep running")

    def restart_counts(self) -> dict[str, int]:
        return {name: child.restarts for name, child in self.children.items()}

    # --- stopping --------------------------------------------------------------------

    @staticmethod
    def _kill_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process, wait up to ``timeout``, then SIGKILL what is left."""
        running = [(c, c.process) for c in self.children.values() if c.process is not None]
        for _, process in running:
            if process.poll() is None:
                # The leader only: a Celery pool process sent SIGTERM itself dies mid-task.
                process.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        for _, process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - self.clock()))
            # The leader may be gone while its group is not (gunicorn's workers...).
            self._kill_group(process.pid, signal.SIGKILL)
            if process.poll() is None:
                process.wait(5)
        for child, _ in running:
            if child.reader is not None:
                child.reader.join(2)
