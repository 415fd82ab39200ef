"""`device_stats_hourly`: each (device, hour) recomputed from `sensor_readings` in one statement.

Recomputing (INSERT … SELECT … ON CONFLICT DO UPDATE) rather than adding makes
it idempotent: a redelivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

_ROLLUP = """
INSERT INTO device_stats_hourly (device_id, hour_timestamp, avg_value, min_value, max_value,
                                 count_readings, std_deviation)
SELECT w.device_id, w.hour, avg(r.value), min(r.value), max(r.value), count(*), stddev_pop(r.value)
FROM unnest(%s::text[], %s::timestamptz[]) AS w(device_id, hour)
JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp >= w.hour
                      AND r.timestamp < w.hour + interval '1 hour'
GROUP BY w.device_id, w.hour
ON CONFLICT (device_id, hour_timestamp) DO UPDATE SET
  avg_value = EXCLUDED.avg_value, min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,
  count_readings = EXCLUDED.count_readings, std_deviation = EXCLUDED.std_deviation
"""


def roll_up(conn: psycopg.Connection[Any], hours: Sequence[tuple[str, datetime]]) -> None:
    """Recompute the (device, hour start) rows."""
    conn.execute(_ROLLUP, ([device for device, _ in hours], [hour for _, hour in hours]))
