"""The long-lived service: REST under /api, Socket.IO at /socket.io, the dashboard at /."""

from iotmon.service.app import create_app, server_config

__all__ = ["create_app", "server_config"]
