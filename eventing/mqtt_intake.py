"""paho for a bridge that takes thousands of QoS 1 messages a second and acknowledges them itself.

Profiled under `make bench`, paho's network thread, not the bridge's work, set the pace: per message it went back
to select(), read the packet in three `recv` calls (its type, its length, the rest), built an MQTT 5 `Properties`
object (two dicts of some thirty entries, then cleared name by name) and an `MQTTMessage`, and per acknowledgement
queued a packet, woke its loop through a socket pair and wrote four bytes with a `send` of their own. Each system
call lets go of the GIL the bridge's worker then holds for up to the switch interval. `BridgeClient` keeps paho's
connection handling, sessions, TLS and reconnects, and shortens the hot paths:

- the connection is read in large chunks, and every packet already read is handled before going back to select();
  a PUBLISH that is whole in the buffer is taken from it directly, not byte by byte through paho's reading;
- a QoS 0 or 1 PUBLISH without MQTT 5 properties (what plants send) is decoded here, straight into a `Received`;
  anything else (QoS 2, properties, a malformed packet) takes paho's own path and arrives the same way;
- what one read brought is handed on together (`on_received` takes a list), so the bridge takes its inbox's lock
  once for hundreds of messages;
- `ack_many` queues the PUBACKs of a whole batch as one write.

It reaches into paho's internals (`_create_socket`, `_handle_publish`, `_in_packet`, `_packet_queue`), which
paho 2.x keeps; pyproject pins paho-mqtt below 3, and tests/unit/test_mqtt_intake.py checks them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

READ_AHEAD = 256 * 1024  # bytes asked of the socket at a time: some 2,000 small messages
PACKETS_PER_READ = 2000  # handled from the buffer before paho's loop may write (the acknowledgements) again
BURST_BYTES = READ_AHEAD  # of payloads handed on together at most: what waits in a burst stays bounded
_LENGTH = struct.Struct("!H")
_PUBACK = 0x4002_0000  # a PUBACK is 0x40, remaining length 2, the message id: one big-endian 32-bit word


class Received(NamedTuple):
    """A PUBLISH as the bridge needs it."""

    topic: str
    payload: bytes
    qos: int
    mid: int  # 0 for QoS 0


def decode_publish(command: int, packet: bytes | bytearray, mqtt5: bool) -> Received | None:
    """A PUBLISH's fixed header byte and the rest of it (after the remaining length) as a `Received`; None when
    paho should decode it: QoS 2, MQTT 5 properties (a topic alias among them), a topic that is empty or not
    UTF-8, a packet too short for what it says."""
    qos = (command >> 1) & 3
    if qos > 1:
        return None
    try:
        (length,) = _LENGTH.unpack_from(packet, 0)
        at = 2 + length
        topic = packet[2:at].decode()
        mid = 0
        if qos:
            (mid,) = _LENGTH.unpack_from(packet, at)
            at += 2
        if mqtt5:
            if packet[at] != 0:  # the properties' length: there are some
                return None
            at += 1
    except (struct.error, IndexError, UnicodeDecodeError):
        return None
    if not topic or at > len(packet):
        return None
    return Received(topic, bytes(packet[at:]), qos, mid)


def pubacks(mids: Sequence[int]) -> bytes:
    """The PUBACK packets of these message ids, back to back."""
    return struct.pack(f"!{len(mids)}I", *(_PUBACK | mid for mid in mids))


class ReadAhead:
    """A connected socket read READ_AHEAD bytes at a time, paho's small reads served from what is buffered.

    `pending()` is what paho asks an SSL socket for bytes it holds: with some, paho skips select() and reads."""

    def __init__(self, sock: SocketLike) -> None:
        self._sock = sock
        self._buffer = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._buffer):
            self._buffer, self._at = self._sock.recv(max(size, READ_AHEAD)), 0  # BlockingIOError passes on to paho
        data = self._buffer[self._at : self._at + size]
        self._at += len(data)
        return data

    def whole_packet(self) -> tuple[int, bytes, int] | None:
        """The next packet if the buffer holds all of it: its fixed header byte, what follows its remaining
        length, and where it ends (for `skip_to`); None if it does not (or its length is malformed: paho says so)."""
        buffer, at = self._buffer, self._at
        length = shift = 0
        for position in range(at + 1, min(at + 5, len(buffer))):  # the remaining length: 1 to 4 bytes
            byte = buffer[position]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                end = position + 1 + length
                return (buffer[at], buffer[position + 1 : end], end) if end <= len(buffer) else None
        return None

    def skip_to(self, end: int) -> None:
        self._at = end

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._at

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)  # an SSL socket's own
        return self.buffered + (inner() if inner else 0)

    def send(self, buffer: bytes | bytearray) -> int:
        return self._sock.send(buffer)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:  # the rest (an SSL socket's getpeercert, …) as the socket has it
        return getattr(self._sock, name)


def _dropped(_messages: list[Received]) -> None:
    """No handler set yet: paho drops a message nobody handles too (unacknowledged, so it comes again)."""


class BridgeClient(paho.Client):
    """A paho client whose messages go to `on_received`, in order, in lists (see the module's docstring); use it
    with manual_ack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_received: Callable[[list[Received]], None] = _dropped
        self.on_message = self._from_paho
        self._burst: list[Received] = []
        self._burst_bytes = 0

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge these QoS 1 messages (of the current connection) with one queued write."""
        if mids:
            self._packet_queue(paho.PUBACK, pubacks(mids), 0, 1)

    def _from_paho(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        self._take(Received(message.topic, bytes(message.payload), message.qos, message.mid))

    def _take(self, message: Received) -> None:
        self._burst.append(message)
        self._burst_bytes += len(message.payload)

    def _hand_on(self) -> None:
        burst, self._burst, self._burst_bytes = self._burst, [], 0
        with self._in_callback_mutex:
            self.on_received(burst)

    # paho's internals, shortened

    def _create_socket(self) -> SocketLike:
        return ReadAhead(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho reads one packet a turn of its loop: read on while packets wait in the buffer, then hand on what
        came (also when the connection broke meanwhile: those messages are not acknowledged on a new one)."""
        rc = super().loop_read(max_packets)  # paho's own reading keeps its keepalive clock and partial packets
        for _ in range(PACKETS_PER_READ):
            sock = self._sock
            if rc or not isinstance(sock, ReadAhead) or not sock.buffered or self._burst_bytes >= BURST_BYTES:
                break
            if self._in_packet["command"] == 0 and (received := self._buffered_publish(sock)) is not None:
                self._take(received)
            else:
                rc = super().loop_read(max_packets)
        if self._burst:
            self._hand_on()
        return rc

    def _buffered_publish(self, sock: ReadAhead) -> Received | None:
        """The next packet, taken from the buffer, if it is a whole PUBLISH this module decodes; else None, and
        it stays for paho."""
        whole = sock.whole_packet()
        if whole is None or whole[0] & 0xF0 != paho.PUBLISH or not self._manual_ack:
            return None
        received = decode_publish(whole[0], whole[1], self._protocol == paho.MQTTv5)
        if received is not None:
            sock.skip_to(whole[2])
        return received

    def _handle_publish(self) -> MQTTErrorCode:
        received = None
        if self._manual_ack:  # else paho acknowledges QoS 1 itself, on its path
            received = decode_publish(
                self._in_packet["command"], self._in_packet["packet"], self._protocol == paho.MQTTv5
            )
        if received is None:
            return super()._handle_publish()
        self._take(received)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
