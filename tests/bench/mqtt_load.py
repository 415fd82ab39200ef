"""The MQTT benchmark's load: one MQTT 5 client per device, each publishing its readings at QoS 1 with up to
WINDOW of them unacknowledged, in a process of its own (`python -m tests.bench.mqtt_load PORT MESSAGES START`).

The clients speak MQTT over plain sockets with their packets made beforehand, write them 256 at a time and read
the acknowledgements when as many have come: about 1 µs of CPU a message. The five `mosquitto_pub -l` this
replaces spent 17 – 20 µs (a write and a read for every message), about what the bridge they measured spends,
on the same two cores; with a C subscriber in the bridge's place they carried 25,000 – 27,000 messages a second
while the bridge alone drained 35,000 – 40,000 queued ones, so the figure was theirs. The broker's work is the
same: a PUBLISH for each reading, each acknowledged.

The process connects its clients, makes their packets, says "ready" on stdout, starts on a line on stdin, and
exits once the broker has acknowledged every message (a refused one fails it).
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from datetime import datetime, timedelta

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

DEVICES = ("device-001", "device-002", "device-003", "device-004", "device-005")  # registered by the migrations
WINDOW = 1000  # unacknowledged messages a client may have, as mosquitto_pub -M 1000
CHUNK = 256  # packets written together, and acknowledgements waited for before more are
PUBACK = 0x40
CONNACK = 0x20


def payloads(count: int, start: datetime) -> list[bytes]:
    """A device's readings, a millisecond apart from `start`."""
    return [
        msgspec.json.encode(
            {"value": 20 + n % 50, "unit": "units", "timestamp": (start + timedelta(milliseconds=n)).isoformat()}
        )
        for n in range(count)
    ]


def remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, byte = divmod(length, 128)
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + remaining_length(len(body)) + body


def utf8(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("!H", len(encoded)) + encoded


def connect(client_id: str) -> bytes:
    """MQTT 5 CONNECT: clean start, keepalive 60 s, no properties."""
    return packet(0x10, utf8("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + b"\x00" + utf8(client_id))


def publish(topic: bytes, mid: int, payload: bytes) -> bytes:
    """MQTT 5 PUBLISH at QoS 1, no properties."""
    return packet(0x32, topic + struct.pack("!H", mid) + b"\x00" + payload)


def packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The whole packets at the start of `buffer`, taken out of it."""
    found, at = [], 0
    while at + 2 <= len(buffer):
        length = shift = 0
        for position in range(at + 1, min(at + 5, len(buffer))):
            length |= (buffer[position] & 0x7F) << shift
            shift += 7
            if not buffer[position] & 0x80:
                break
        else:
            break  # the remaining length is cut
        end = position + 1 + length
        if end > len(buffer):
            break
        found.append((buffer[at], bytes(buffer[position + 1 : end])))
        at = end
    del buffer[:at]
    return found


def acknowledgements(buffer: bytearray) -> int:
    """How many messages the PUBACKs at the start of `buffer` acknowledge, taken out of it; RuntimeError if one
    refuses its message. A success is four bytes (MQTT 5 leaves its reason code out): those are counted at C
    speed, anything else read packet by packet."""
    whole = len(buffer) - len(buffer) % 4
    if buffer[0:whole:4].count(PUBACK) == whole // 4 and buffer[1:whole:4].count(2) == whole // 4:
        del buffer[:whole]
        return whole // 4
    found = packets(buffer)
    for header, body in found:
        if header != PUBACK or (len(body) > 2 and body[2] >= 0x80):
            raise RuntimeError(f"the broker refused a message: {header:#x} {body!r}")
    return len(found)


class Client:
    def __init__(self, port: int, device: str, payloads: list[bytes]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(60)  # a broker that stops answering fails the run
        self.buffer = bytearray()
        self.sock.sendall(connect(f"bench-load-{device}"))
        self.window = min(WINDOW, self._connack())
        topic = utf8(f"iotmon/bench/{device}/production")
        self.packets = [publish(topic, n % 65535 + 1, payload) for n, payload in enumerate(payloads)]
        self.failure: str | None = None

    def _connack(self) -> int:
        """The broker's Receive Maximum (the most unacknowledged messages it takes from a client)."""
        while not (found := packets(self.buffer)):
            self.buffer += self.sock.recv(65536)
        (header, body), *_ = found
        if header != CONNACK or body[1] != 0:
            raise RuntimeError(f"the broker refused the connection: {body!r}")
        properties = Properties(PacketTypes.CONNACK)
        properties.unpack(body[2:])
        return int(getattr(properties, "ReceiveMaximum", 65535))

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # said by the process's exit code
            self.failure = f"{type(error).__name__}: {error}"

    def _run(self) -> None:
        sent = acknowledged = 0
        total = len(self.packets)
        while acknowledged < total:
            room = min(self.window - (sent - acknowledged), total - sent)
            if room >= CHUNK or (room and sent + room == total):
                end = sent + min(room, CHUNK)
                self.sock.sendall(b"".join(self.packets[sent:end]))
                sent = end
                continue
            # Until a chunk's worth is acknowledged (a PUBACK is 4 bytes at least), no reading: the broker sends
            # them one by one, and a read for every few would cost this process more than its writes.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 4 * min(CHUNK, sent - acknowledged))
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError(f"the broker closed the connection after {acknowledged} acknowledgements")
            self.buffer += data
            acknowledged += acknowledgements(self.buffer)
        self.sock.sendall(packet(0xE0, b""))  # DISCONNECT
        self.sock.close()


def main(port: int, messages: int, start: datetime) -> int:
    per_device = messages // len(DEVICES)
    clients = [Client(port, device, payloads(per_device, start)) for device in DEVICES]
    print("ready", flush=True)
    sys.stdin.readline()
    threads = [threading.Thread(target=client.run) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [client.failure for client in clients if client.failure]
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])))
