"""Sending the live view's messages to every service replica, through python-socketio's Redis manager.

The functions are not Socket.IO servers: they publish on the channel every
replica of the service listens to (write-only). python-socketio builds each
message (`emit`); `_publish`, the hook its pub/sub managers implement, is
overridden here so that one batch goes out in one pipelined round trip, and so
that a failure raises (the manager's own logs and drops it, and a message that
was never published must not count as sent).

Redis pub/sub keeps nothing: a message nobody is subscribed to when it is
published is gone. `send` returns how many listeners heard it, so that a caller
for whom the message matters (notify) can treat none as a failure, and one for
whom it does not (aggregate's readings) can ignore it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import msgspec
import socketio

from iotmon.adapters.redis import clients
from iotmon.adapters.redis.keys import SOCKETIO_CHANNEL
from iotmon.core.live import LiveMessage


class LiveEmitter(socketio.RedisManager):  # type: ignore[misc]  # python-socketio ships no type hints
    def __init__(self, redis_url: str, channel: str = SOCKETIO_CHANNEL) -> None:
        super().__init__(redis_url, channel=channel, write_only=True, redis_options=clients.options())
        self._batch = threading.local()  # functions-framework serves requests on several threads

    def send(self, messages: Iterable[LiveMessage]) -> int:
        """Publish the messages in one round trip; raises if Redis does not take them.

        Returns how many listeners (service replicas) received every one of them: PUBLISH's count, the
        smallest of the batch (0 when there was nothing to send).
        """
        self._batch.pending = []
        try:
            for message in messages:
                self.emit(message.event, msgspec.to_builtins(message.data), room=message.room)
            pending, self._batch.pending = self._batch.pending, None
            if not pending:
                return 0
            pipe = self._client().pipeline(transaction=False)
            for data in pending:
                pipe.publish(self.channel, self.json.dumps(data))
            return min(int(receivers) for receivers in pipe.execute())
        finally:
            self._batch.pending = None

    def _publish(self, data: Any) -> None:
        pending = getattr(self._batch, "pending", None)
        if pending is not None:
            pending.append(data)
        else:
            self._client().publish(self.channel, self.json.dumps(data))

    def _client(self) -> Any:
        if not self.connected:
            self._redis_connect()
        return self.redis
