"""Configuration from the environment (and CLI flags that override it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    redis_url: str | None = field(default_factory=lambda: _env("REDIS_URL"))
    kafka_bootstrap_servers: str | None = field(default_factory=lambda: _env("KAFKA_BOOTSTRAP_SERVERS"))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1") or "127.0.0.1")
    port: int = field(default_factory=lambda: int(_env("PORT", "8080") or 8080))
    data_dir: Path = field(
        default_factory=lambda: Path(_env("IOTMON_DATA_DIR", str(Path.home() / ".local/share/iotmon")) or "")
    )
    admin_password: str | None = field(default_factory=lambda: _env("IOTMON_ADMIN_PASSWORD"))
    anonymous_read: bool = field(default_factory=lambda: (_env("IOTMON_ANONYMOUS_READ", "true") or "").lower() != "false")
    cors_origins: tuple[str, ...] = field(
        default_factory=lambda: tuple(o.strip() for o in (_env("IOTMON_CORS_ORIGINS", "") or "").split(",") if o.strip())
    )
    rate_limit_per_minute: int = field(default_factory=lambda: int(_env("IOTMON_RATE_LIMIT", "100") or 100))
    token_ttl_s: int = field(default_factory=lambda: int(_env("IOTMON_TOKEN_TTL_S", "28800") or 28800))
    log_level: str = field(default_factory=lambda: _env("IOTMON_LOG_LEVEL", "INFO") or "INFO")
    anomaly_rate: float = field(default_factory=lambda: float(_env("IOTMON_ANOMALY_RATE", "0.05") or 0.05))
    # Seconds between PingSource ticks in local runs (None: the manifests' cron schedule).
    tick_seconds: float | None = field(default_factory=lambda: float(s) if (s := _env("IOTMON_TICK_SECONDS")) else None)
    seed: int | None = field(default_factory=lambda: int(s) if (s := _env("IOTMON_SEED")) else None)
