"""Where notifications go (pure data): SMTP, webhooks, routing by severity and action, rate limits.

The values come from the environment (iotmon.adapters.settings). Socket.IO,
the dashboard's live view, is no channel here: it gets every alert change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from iotmon.core.alerts import SEVERITIES

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
        return frozenset(
            name for name, on in ((EMAIL, self.smtp is not None), (WEBHOOK, bool(self.webhook_urls))) if on
        )


class DeliveryError(Exception):
    """A notification that did not go out.

    `retryable` says whether trying again later can help (server down, timeout,
    5xx, 429) or not (a refused recipient, a 4xx: a configuration error that
    waits for a person).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
