"""Notifications for alert changes: Socket.IO live view, email, webhooks.

One concept per module: `config` (channels from the environment), `routing`
(severity routing and deduplication keys, pure), `live` (Socket.IO messages,
pure), `email` (SMTP), `webhook` (HTTP POST), `ratelimit` (Redis token
bucket), `silences` (maintenance windows), `store` (the notifications log,
which deduplicates). The function that drives them is functions/notify.py.
"""

from iotmon.notifications.config import ChannelConfig, RateLimit, SmtpConfig
from iotmon.notifications.delivery import DeliveryError

__all__ = ["ChannelConfig", "DeliveryError", "RateLimit", "SmtpConfig"]
