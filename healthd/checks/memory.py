"""``memory``: this process's container (its memory cgroup) against the cgroup's limit, a
local check: the kernel's OOM killer acts on the cgroup, so that is the figure that says a
pod is about to be killed. Read from the cgroup files (v2 ``memory.current`` /
``memory.max``, else v1 ``memory.usage_in_bytes`` / ``memory.limit_in_bytes``); no limit
passes. Hand-written: psutil reports the host's memory, not the cgroup's limit.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

from healthd.checks.base import Observation, Status

MB = 1024 * 1024
# cgroup v1 says "no limit" with a page-rounded 2**63-1.
NO_LIMIT_ABOVE = 2**60


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """``/proc/self/cgroup``: the controller (``""`` for v2's unified tree) to the path."""
    found: dict[str, str] = {}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                found.setdefault(controller, parts[2])
    return found


def usage_and_limit(root: Path, proc_cgroup: Path) -> tuple[int, int] | None:
    """(bytes used, limit in bytes) of this process's memory cgroup; None without a limit."""
    cgroups = _own_cgroups(proc_cgroup)
    # v2: the unified tree; inside a container the path may be "/" (a cgroup namespace).
    if "" in cgroups:
        for folder in (root / cgroups[""].lstrip("/"), root):
            limit_file = folder / "memory.max"
            if limit_file.exists():
                limit, used = _read_int(limit_file), _read_int(folder / "memory.current")
                if limit is None or used is None:  # "max": no limit
                    return None
                return used, limit
    if "memory" in cgroups:
        base = root / "memory"
        for folder in (base / cgroups["memory"].lstrip("/"), base):
            limit = _read_int(folder / "memory.limit_in_bytes")
            used = _read_int(folder / "memory.usage_in_bytes")
            if limit is not None and used is not None:
                return None if limit >= NO_LIMIT_ABOVE else (used, limit)
    return None


def own_peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Memory:
    """Fail when the cgroup uses more than ``max_percent`` of its limit."""

    max_percent: float = 95.0
    cgroup_root: str = "/sys/fs/cgroup"
    proc_cgroup: str = "/proc/self/cgroup"

    def run(self) -> Observation:
        found = usage_and_limit(Path(self.cgroup_root), Path(self.proc_cgroup))
        if found is None:
            return Observation(f"no memory limit (this process peaked at "
                               f"{own_peak_rss_mb():.0f} MB)")
        used, limit = found
        percent = 100.0 * used / limit
        message = f"{used / MB:.0f} MB of the {limit / MB:.0f} MB limit ({percent:.0f} %)"
        status = Status.FAILING if percent > self.max_percent else Status.PASSING
        if status == Status.FAILING:
            message += f", above {self.max_percent:g} %"
        return Observation(message, status, value=round(percent, 1), unit="%")
