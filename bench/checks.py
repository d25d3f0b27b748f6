"""A check that flips on its own: failing during every other five-second window."""

import time


def flapping() -> str:
    if int(time.time() // 5) % 2:
        raise RuntimeError("failing for this five-second window")
    return "passing for this five-second window"
