"""The long-lived service: REST under /api, Socket.IO at /socket.io, the dashboard at /."""

from iotmon.service.app import create_app
from iotmon.service.realtime import WEBSOCKET_OPTIONS

__all__ = ["WEBSOCKET_OPTIONS", "create_app"]
