"""Which channels an alert change goes to, and the key that makes it go once (pure: no I/O)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from iotmon.core.channels import OUTBOUND, ChannelConfig
from iotmon.core.contracts.alerts import AlertChange


def route(severity: str, action: str, config: ChannelConfig) -> frozenset[str]:
    """The outbound channels (email, webhook) for an alert change of this severity and action.

    A channel is chosen when it is configured (somewhere to send to), its
    severities include this one and its actions include this one. Socket.IO is
    not routed: the live view receives every change it has an event for.
    """
    enabled = config.enabled()
    return frozenset(
        channel
        for channel in OUTBOUND
        if channel in enabled
        and severity in config.routes.get(channel, frozenset())
        and action in config.actions.get(channel, frozenset())
    )


def change_key(change: AlertChange) -> str:
    """What identifies one state change of an alert: its history sequence, else its action and time.

    The same change redelivered has the same key; two changes of one alert never share one.
    """
    if change.sequence is not None:
        return f"seq:{change.sequence}"
    return f"{change.action}@{change.timestamp}"[:64]


def webhook_target(url: str) -> str:
    """A stable name for a webhook URL that does not store the URL itself (paths often carry tokens)."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{urlsplit(url).hostname or 'webhook'}#{digest}"[:100]
