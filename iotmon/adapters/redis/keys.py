"""The Redis keys other processes read (the API, the dashboard's snapshots): one place for the names.

Values are JSON strings. Real-time values live 1 hour, statistics 24 hours.
Each module that keeps private state in Redis (live windows, rule machines,
rate limits) names its own keys beside its code.
"""

CURRENT_TTL_S = 3600
STATS_TTL_S = 86_400
WINDOWS = {"1h": 3600, "24h": 86_400}  # statistics windows, seconds

ALERTS_ACTIVE = "alerts:active"
SYSTEM_METRICS = "system:metrics"

# python-socketio's Redis manager channel: functions publish on it (write-only), every service replica listens.
SOCKETIO_CHANNEL = "iotmon-socketio"


def current(device_id: str) -> str:
    return f"device:{device_id}:current"


def stats(device_id: str, window: str) -> str:
    return f"device:{device_id}:stats:{window}"


def cache_generation(dependency: str) -> str:
    """A counter bumped whenever data the API caches changes (alerts, devices, rollups)."""
    return f"cache:generation:{dependency}"
