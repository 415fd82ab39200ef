"""Channel configuration from the environment: SMTP, webhooks, routing, rate limits.

| variable | default | meaning |
|---|---|---|
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

Socket.IO (the dashboard's live view) is not configurable: it gets every alert.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from eventing.events import ALERT_ACTIONS

SEVERITIES = ("low", "medium", "high", "critical")
EMAIL = "email"
WEBHOOK = "webhook"
SOCKETIO = "socketio"
OUTBOUND = (EMAIL, WEBHOOK)  # the channels that are routed, silenced and rate-limited


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    recipients: tuple[str, ...]
    port: int = 25
    sender: str = "iotmon@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("IOTMON_SMTP_TO must name at least one recipient when IOTMON_SMTP_HOST is set")


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `per_minute` tokens flow in, at most `burst` are kept."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs per_minute > 0 and burst >= 1, not {self}")


def _default_routes() -> dict[str, frozenset[str]]:
    return {EMAIL: frozenset({"high", "critical"}), WEBHOOK: frozenset(SEVERITIES)}


def _default_actions() -> dict[str, frozenset[str]]:
    return {
        EMAIL: frozenset({"triggered", "escalated", "resolved"}),
        WEBHOOK: frozenset({"triggered", "escalated", "acknowledged", "resolved"}),
    }


def _default_limits() -> dict[str, RateLimit]:
    return {EMAIL: RateLimit(10, 20), WEBHOOK: RateLimit(60, 60)}


@dataclass(frozen=True)
class ChannelConfig:
    smtp: SmtpConfig | None = None
    webhook_urls: tuple[str, ...] = ()
    webhook_timeout: float = 5.0
    routes: Mapping[str, frozenset[str]] = field(default_factory=_default_routes)  # channel → severities
    actions: Mapping[str, frozenset[str]] = field(default_factory=_default_actions)  # channel → alert actions
    limits: Mapping[str, RateLimit] = field(default_factory=_default_limits)

    def __post_init__(self) -> None:
        for url in self.webhook_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"webhook URL {url!r} is not an http(s) URL")

    def enabled(self) -> frozenset[str]:
        """The outbound channels that have somewhere to send to."""
        return frozenset(name for name, on in ((EMAIL, self.smtp is not None), (WEBHOOK, bool(self.webhook_urls))) if on)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ChannelConfig:
        def get(name: str, default: str = "") -> str:
            return environ.get(name, "").strip() or default

        smtp = None
        if host := get("IOTMON_SMTP_HOST"):
            user, password = get("IOTMON_SMTP_USER") or None, environ.get("IOTMON_SMTP_PASSWORD") or None
            smtp = SmtpConfig(
                host=host,
                port=int(get("IOTMON_SMTP_PORT", "25")),
                sender=get("IOTMON_SMTP_FROM", "iotmon@localhost"),
                recipients=_names(get("IOTMON_SMTP_TO")),
                user=user,
                password=password,
                starttls=get("IOTMON_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes"),
                timeout=float(get("IOTMON_SMTP_TIMEOUT", "10")),
            )
        return cls(
            smtp=smtp,
            webhook_urls=_names(get("IOTMON_WEBHOOK_URLS")),
            webhook_timeout=float(get("IOTMON_WEBHOOK_TIMEOUT", "5")),
            routes={
                EMAIL: _choices("IOTMON_ROUTE_EMAIL", get("IOTMON_ROUTE_EMAIL", "high,critical"), SEVERITIES),
                WEBHOOK: _choices("IOTMON_ROUTE_WEBHOOK", get("IOTMON_ROUTE_WEBHOOK", ",".join(SEVERITIES)), SEVERITIES),
            },
            actions={
                EMAIL: _choices(
                    "IOTMON_NOTIFY_EMAIL_ACTIONS", get("IOTMON_NOTIFY_EMAIL_ACTIONS", "triggered,escalated,resolved"), ALERT_ACTIONS
                ),
                WEBHOOK: _choices(
                    "IOTMON_NOTIFY_WEBHOOK_ACTIONS",
                    get("IOTMON_NOTIFY_WEBHOOK_ACTIONS", "triggered,escalated,acknowledged,resolved"),
                    ALERT_ACTIONS,
                ),
            },
            limits={
                EMAIL: RateLimit(float(get("IOTMON_RATE_EMAIL_PER_MIN", "10")), int(get("IOTMON_RATE_EMAIL_BURST", "20"))),
                WEBHOOK: RateLimit(float(get("IOTMON_RATE_WEBHOOK_PER_MIN", "60")), int(get("IOTMON_RATE_WEBHOOK_BURST", "60"))),
            },
        )


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _choices(variable: str, text: str, allowed: tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(part.lower() for part in _names(text))
    if unknown := chosen - set(allowed):
        raise ValueError(f"{variable}: unknown {sorted(unknown)}; choose from {', '.join(allowed)}")
    return chosen
