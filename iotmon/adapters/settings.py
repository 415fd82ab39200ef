"""The one settings object, read once from the environment (`Settings.from_env`); CLI flags override it.

| variable | default | meaning |
|---|---|---|
| DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS | unset | real servers; unset: embedded PostgreSQL and Redis, events kept in PostgreSQL |
| HOST, PORT | 127.0.0.1, 8080 | where the service (or `iotmon func run`) listens |
| IOTMON_DATA_DIR | ~/.local/share/iotmon | the embedded servers' data |
| IOTMON_ADMIN_PASSWORD | generated | the first admin's password (a weak one is refused) |
| IOTMON_GATEWAY_KEY | generated | the API key `gateway` (every device, registers new ones) that gateways send to POST /api/readings: `iotmon_gw_` and 32+ random characters |
| IOTMON_ANONYMOUS_READ | true | false: reading the API, /metrics and Socket.IO need a viewer token |
| IOTMON_CORS_ORIGINS | none | other origins allowed to call the API, comma-separated |
| IOTMON_RATE_LIMIT | 100 | API requests per minute per client IP |
| IOTMON_METRICS_TOKEN | unset | a bearer secret (32+ characters) that may read /metrics, for Prometheus when reading needs a login |
| IOTMON_TRUSTED_PROXIES | none | proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client |
| IOTMON_TOKEN_TTL_S | 900 | access tokens expire after this (a refresh gets a new one) |
| IOTMON_SESSION_TTL_S | 43200 | a login session ends after this: log in again |
| IOTMON_JWT_KEYS | from the data directory | `<kid>:<secret>,…`, the signing key first (iotmon/adapters/signing_keys.py) |
| IOTMON_LOG_LEVEL | INFO | |
| IOTMON_ANOMALY_RATE | 0.05 | the simulator's share of anomalous readings |
| IOTMON_SEED | random | the simulator's random seed |
| IOTMON_TICK_SECONDS | the manifests' cron | seconds between escalate-cron ticks in local runs |
| ESCALATE_AFTER_S | 300 | an unacknowledged alert escalates after this |
| IOTMON_OUTBOX_RELAY_S | 1 | the service publishes alert changes still in the outbox this often |
| K_SERVICE | iotmon | the Kafka client id (Knative sets it to the function's name) |
| IOTMON_FRESH | unset | set: `iotmon up` forgets its data directory first |
| IOTMON_WORKERS | 1 | `iotmon up`: processes sharing the functions' work (iotmon.workers; 2 on a 2-core machine under a fleet's load) |
| IOTMON_MQTT_PORT | 1883 | `iotmon up`: the embedded MQTT broker's port on HOST (0: any free port; `off`: no broker, no bridge) |
| IOTMON_FUNCTION_URLS | unset | `iotmon router`: `<service>=<url>,…`, where each function listens |
| IOTMON_FUNCTIONS_BASE_PORT | 8081 | `iotmon router`: the first port of the default function URLs |
| IOTMON_SMTP_HOST | unset | SMTP server; unset = no email |
| IOTMON_SMTP_PORT | 25 | |
| IOTMON_SMTP_FROM | iotmon@localhost | sender address |
| IOTMON_SMTP_TO | (required with a host) | recipients, comma-separated |
| IOTMON_SMTP_USER, IOTMON_SMTP_PASSWORD | unset | login, when both are set |
| IOTMON_SMTP_STARTTLS | 0 | 1 = STARTTLS before login |
| IOTMON_SMTP_TIMEOUT | 10 | seconds |
| IOTMON_WEBHOOK_URLS | unset | comma-separated http(s) URLs; unset = no webhook |
| IOTMON_WEBHOOK_TIMEOUT | 5 | seconds |
| IOTMON_ROUTE_EMAIL | high,critical | severities that go by email |
| IOTMON_ROUTE_WEBHOOK | low,medium,high,critical | severities that go to the webhooks |
| IOTMON_NOTIFY_EMAIL_ACTIONS | triggered,escalated,resolved | alert changes that go by email |
| IOTMON_NOTIFY_WEBHOOK_ACTIONS | triggered,escalated,acknowledged,resolved | alert changes that go to the webhooks |
| IOTMON_RATE_EMAIL_PER_MIN, IOTMON_RATE_EMAIL_BURST | 10, 20 | email token bucket |
| IOTMON_RATE_WEBHOOK_PER_MIN, IOTMON_RATE_WEBHOOK_BURST | 60, 60 | webhook token bucket |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from iotmon.core import api_keys
from iotmon.core.alerts import ACTIONS, SEVERITIES
from iotmon.core.channels import EMAIL, WEBHOOK, ChannelConfig, RateLimit, SmtpConfig
from iotmon.core.passwords import weakness

Number = TypeVar("Number", int, float)
SERVERS = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=lambda: Path.home() / ".local/share/iotmon")
    admin_password: str | None = None
    gateway_key: str | None = None
    anonymous_read: bool = True
    cors_origins: tuple[str, ...] = ()
    rate_limit_per_minute: int = 100
    trusted_proxies: tuple[str, ...] = ()
    token_ttl_s: int = 15 * 60
    session_ttl_s: int = 12 * 3600
    jwt_keys: str | None = None
    metrics_token: str | None = None
    log_level: str = "INFO"
    anomaly_rate: float = 0.05
    tick_seconds: float | None = None  # None: the manifests' cron schedule
    seed: int | None = None
    escalate_after_s: float = 300.0
    outbox_relay_s: float = 1.0
    client_id: str = "iotmon"
    fresh: bool = False
    mqtt_port: int | None = 1883  # the embedded MQTT broker's; None: none
    workers: int = 1  # `iotmon up`'s processes running functions
    function_urls: tuple[str, ...] = ()  # "<service>=<url>" items
    functions_base_port: int | None = None
    channels: ChannelConfig = field(default_factory=ChannelConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Every setting from the environment; ValueError names the variable that is wrong."""
        env = _Environment(environ)
        return cls(
            database_url=env.text("DATABASE_URL"),
            redis_url=env.text("REDIS_URL"),
            kafka_bootstrap_servers=env.text("KAFKA_BOOTSTRAP_SERVERS"),
            host=env.text("HOST") or "127.0.0.1",
            port=env.number("PORT", int, 8080),
            data_dir=Path(env.text("IOTMON_DATA_DIR") or Path.home() / ".local/share/iotmon"),
            admin_password=_admin_password(environ.get("IOTMON_ADMIN_PASSWORD") or None),
            gateway_key=env.api_key("IOTMON_GATEWAY_KEY"),
            anonymous_read=(env.text("IOTMON_ANONYMOUS_READ") or "true").lower() != "false",
            cors_origins=env.names("IOTMON_CORS_ORIGINS"),
            rate_limit_per_minute=env.number("IOTMON_RATE_LIMIT", int, 100),
            trusted_proxies=env.names("IOTMON_TRUSTED_PROXIES"),
            token_ttl_s=env.number("IOTMON_TOKEN_TTL_S", int, 15 * 60),
            session_ttl_s=env.number("IOTMON_SESSION_TTL_S", int, 12 * 3600),
            jwt_keys=environ.get("IOTMON_JWT_KEYS") or None,
            metrics_token=_metrics_token(env.text("IOTMON_METRICS_TOKEN")),
            log_level=env.text("IOTMON_LOG_LEVEL") or "INFO",
            anomaly_rate=env.number("IOTMON_ANOMALY_RATE", float, 0.05),
            tick_seconds=env.optional("IOTMON_TICK_SECONDS", float),
            seed=env.optional("IOTMON_SEED", int),
            escalate_after_s=env.number("ESCALATE_AFTER_S", float, 300.0),
            outbox_relay_s=env.number("IOTMON_OUTBOX_RELAY_S", float, 1.0),
            client_id=env.text("K_SERVICE") or "iotmon",
            fresh=bool(env.text("IOTMON_FRESH")),
            workers=env.number("IOTMON_WORKERS", int, 1),
            mqtt_port=None
            if (env.text("IOTMON_MQTT_PORT") or "").lower() == "off"
            else env.number("IOTMON_MQTT_PORT", int, 1883),
            function_urls=env.names("IOTMON_FUNCTION_URLS"),
            functions_base_port=env.optional("IOTMON_FUNCTIONS_BASE_PORT", int),
            channels=channels_from_env(environ),
        )

    def missing_servers(self, names: tuple[str, ...] = SERVERS) -> list[str]:
        """The server variables among `names` that are not set (local distributed mode needs them)."""
        return [name for name in names if not self._servers()[name]]

    def server(self, name: str) -> str:
        """The address a server variable gives (DATABASE_URL, …); RuntimeError if it is not set."""
        if not (address := self._servers()[name]):
            raise RuntimeError(f"{name} is not set: this process needs it to reach its server")
        return address

    def _servers(self) -> dict[str, str | None]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }


def _metrics_token(token: str | None) -> str | None:
    if token is not None and len(token) < 32:
        raise ValueError("IOTMON_METRICS_TOKEN: at least 32 characters, e.g. `openssl rand -base64 32`")
    return token


def _admin_password(password: str | None) -> str | None:
    if password is not None and (problem := weakness(password, "admin")):
        raise ValueError(f"IOTMON_ADMIN_PASSWORD: {problem} (or leave it unset: a strong one is generated)")
    return password


def channels_from_env(environ: Mapping[str, str] = os.environ) -> ChannelConfig:
    """Where notifications go: SMTP, webhooks, routing by severity and action, rate limits."""
    env = _Environment(environ)
    smtp = None
    if host := env.text("IOTMON_SMTP_HOST"):
        smtp = SmtpConfig(
            host=host,
            port=env.number("IOTMON_SMTP_PORT", int, 25),
            sender=env.text("IOTMON_SMTP_FROM") or "iotmon@localhost",
            recipients=env.names("IOTMON_SMTP_TO"),
            user=env.text("IOTMON_SMTP_USER"),
            password=environ.get("IOTMON_SMTP_PASSWORD") or None,  # a password may have spaces at its ends
            starttls=(env.text("IOTMON_SMTP_STARTTLS") or "0").lower() in ("1", "true", "yes"),
            timeout=env.number("IOTMON_SMTP_TIMEOUT", float, 10.0),
        )
    return ChannelConfig(
        smtp=smtp,
        webhook_urls=env.names("IOTMON_WEBHOOK_URLS"),
        webhook_timeout=env.number("IOTMON_WEBHOOK_TIMEOUT", float, 5.0),
        routes={
            EMAIL: env.choices("IOTMON_ROUTE_EMAIL", "high,critical", SEVERITIES),
            WEBHOOK: env.choices("IOTMON_ROUTE_WEBHOOK", ",".join(SEVERITIES), SEVERITIES),
        },
        actions={
            EMAIL: env.choices("IOTMON_NOTIFY_EMAIL_ACTIONS", "triggered,escalated,resolved", ACTIONS),
            WEBHOOK: env.choices("IOTMON_NOTIFY_WEBHOOK_ACTIONS", "triggered,escalated,acknowledged,resolved", ACTIONS),
        },
        limits={
            EMAIL: RateLimit(
                env.number("IOTMON_RATE_EMAIL_PER_MIN", float, 10.0), env.number("IOTMON_RATE_EMAIL_BURST", int, 20)
            ),
            WEBHOOK: RateLimit(
                env.number("IOTMON_RATE_WEBHOOK_PER_MIN", float, 60.0), env.number("IOTMON_RATE_WEBHOOK_BURST", int, 60)
            ),
        },
    )


class _Environment:
    """Typed reads of environment variables; a bad value is a ValueError that names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str) -> str | None:
        return self.environ.get(name, "").strip() or None

    def number(self, name: str, kind: type[Number], default: Number) -> Number:
        value = self.optional(name, kind)
        return default if value is None else value

    def optional(self, name: str, kind: type[Number]) -> Number | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"{name}={text!r} is not {'an integer' if kind is int else 'a number'}") from None

    def api_key(self, name: str) -> str | None:
        key = self.text(name)
        if key is not None and (problem := api_keys.problem(key)):
            raise ValueError(f"{name}: {problem}")
        return key

    def names(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in (self.text(name) or "").split(",") if part.strip())

    def choices(self, name: str, default: str, allowed: tuple[str, ...]) -> frozenset[str]:
        chosen = frozenset(part.lower() for part in self.names(name) or default.split(","))
        if unknown := chosen - set(allowed):
            raise ValueError(f"{name}: unknown {sorted(unknown)}; choose from {', '.join(allowed)}")
        return chosen
