"""What the live windows are rebuilt from, and what Redis does not keep: readings in PostgreSQL, by device.

Times are microseconds since the epoch (µs), as the live windows count them.
Every query takes all devices of a batch at once (unnest), one round trip each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from iotmon.core.stats import Moments

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Span = tuple[str, int, int]  # (device, since µs, until µs)

_ENDS = """
SELECT u.device_id,
       (extract(epoch FROM (SELECT max(timestamp) FROM sensor_readings s WHERE s.device_id = u.device_id))
        * 1000000)::bigint
FROM unnest(%s::text[]) AS u(device_id)
"""

# Buckets `width` seconds wide as centred moments (iotmon.core.stats.Moments), time from the bucket's start.
_BUCKETS = """
SELECT device_id, bucket, count(*), avg(tau), avg(v), var_pop(tau) * count(*), var_pop(v) * count(*),
       covar_pop(tau, v) * count(*), min(v), max(v)
FROM (
  SELECT r.device_id, floor(extract(epoch FROM r.timestamp) / %(width)s)::bigint AS bucket,
         (extract(epoch FROM r.timestamp)
          - floor(extract(epoch FROM r.timestamp) / %(width)s) * %(width)s)::float8 AS tau,
         r.value::float8 AS v
  FROM unnest(%(devices)s::text[], %(since)s::timestamptz[], %(until)s::timestamptz[]) AS w(device_id, since, until)
  JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp >= w.since AND r.timestamp < w.until
) x
GROUP BY device_id, bucket
"""

_MEDIANS = """
SELECT w.device_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY r.value::float8)
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w(device_id, since, until)
JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp >= w.since AND r.timestamp <= w.until
GROUP BY w.device_id
"""


def at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _spans(spans: Sequence[Span]) -> tuple[list[str], list[datetime], list[datetime]]:
    return (
        [device for device, _, _ in spans],
        [at(since) for _, since, _ in spans],
        [at(until) for _, _, until in spans],
    )


def newest(conn: psycopg.Connection[Any], devices: Sequence[str]) -> dict[str, int | None]:
    """Each device's newest stored reading time (None: it has none)."""
    return dict(conn.execute(_ENDS, (list(devices),)).fetchall())


def buckets(conn: psycopg.Connection[Any], spans: Sequence[Span], width_us: int) -> dict[str, dict[int, Moments]]:
    """Each device's readings in since <= t < until as buckets width_us wide: bucket number → moments."""
    devices, since, until = _spans(spans)
    params = {"devices": devices, "since": since, "until": until, "width": width_us // 1_000_000}
    found: dict[str, dict[int, Moments]] = defaultdict(dict)
    for device, number, n, mt, mv, m2t, m2v, ctv, low, high in conn.execute(_BUCKETS, params):
        found[device][int(number)] = Moments(int(n), mt, mv, m2t, m2v, ctv, low, high)
    return found


def medians(conn: psycopg.Connection[Any], spans: Sequence[Span]) -> dict[str, float]:
    """The exact median of each device's values in since <= t <= until (devices without readings left out)."""
    return dict(conn.execute(_MEDIANS, _spans(spans)).fetchall())
