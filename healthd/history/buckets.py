"""Durations as a fixed logarithmic histogram, so that a p95 over any span is a sum of the
hourly rollups' buckets instead of a read of every result.

Bucket 0 holds durations under LOWEST (0.1 ms); bucket ``i`` (1 … 62) holds
``[LOWEST·GROWTH^(i-1), LOWEST·GROWTH^i)``; bucket 63 everything from about 102 s on. A
percentile is reported as the geometric middle of its bucket, so it is within
RELATIVE_ERROR (11.8 %) of the exact nearest-rank value for any duration from 0.1 ms to
102 s; under 0.1 ms it is reported as 0.1 ms, and never above the span's largest
duration (which also answers for the open last bucket). Hand-written rather than
HdrHistogram or a t-digest: the buckets must be columns a SQL upsert adds to on every
database, and a bucket is one ``bisect`` here and one comparison chain in SQL.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from healthd.models import DURATION_BUCKETS

LOWEST = 1e-4
GROWTH = 1.25
# The lower bound of buckets 1 … 63: a duration's bucket is how many of them it reaches.
BOUNDS: tuple[float, ...] = tuple(LOWEST * GROWTH ** k for k in range(DURATION_BUCKETS - 1))
RELATIVE_ERROR = math.sqrt(GROWTH) - 1


def bucket_of(duration: float) -> int:
    """The bucket a duration (seconds) is counted in."""
    if not duration > 0:  # 0, a negative one, NaN
        return 0
    return bisect.bisect_right(BOUNDS, duration)


def empty() -> list[int]:
    return [0] * DURATION_BUCKETS


def percentile(counts: Sequence[int], largest: float | None, fraction: float = 0.95
               ) -> float | None:
    """The ``fraction`` percentile (nearest rank) of the durations counted, from their
    buckets: the geometric middle of the bucket the rank falls in, at most ``largest``
    (the span's largest duration, when known). None for no durations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen, index = 0, 0
    for count in counts:
        seen += count
        if seen >= rank:
            break
        index += 1
    if index == 0:
        value = LOWEST
    elif index >= len(BOUNDS):
        value = largest if largest is not None else BOUNDS[-1]
    else:
        value = math.sqrt(BOUNDS[index - 1] * BOUNDS[index])
    return value if largest is None else min(value, largest)
