"""The bridge's paho client shortcuts (eventing.mqtt_intake): its PUBLISH decoding agrees with paho's, its PUBACKs
are paho's, its read-ahead socket serves paho's small reads, and the paho internals it relies on are there."""

from __future__ import annotations

import struct

import paho.mqtt.client as paho
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventing.mqtt_intake import BridgeClient, ReadAhead, Received, decode_publish, pubacks

PUBLISH = 0x30


def publish_packet(topic: bytes, payload: bytes, qos: int, mid: int, properties: bytes | None) -> tuple[int, bytes]:
    """A PUBLISH's fixed header byte and the rest of it (after the remaining length); properties None: MQTT 3.1.1."""
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    return PUBLISH | qos << 1, body + (properties if properties is not None else b"") + payload


def content_type() -> bytes:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = "application/json"
    packed: bytes = properties.pack()
    return packed


@pytest.mark.parametrize("mqtt5", [False, True])
@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("payload", [b'{"value": 1}', b"", "é".encode() * 200])
def test_a_publish_is_decoded_as_paho_decodes_it(mqtt5: bool, qos: int, payload: bytes) -> None:
    command, packet = publish_packet(b"iotmon/line/device-001/temp", payload, qos, 4242, b"\x00" if mqtt5 else None)
    protocol = paho.MQTTv5 if mqtt5 else paho.MQTTv311
    theirs = _packet.decode_publish(command, bytearray(packet), protocol)
    ours = decode_publish(command, bytearray(packet), mqtt5)
    assert ours == Received(theirs.topic.decode(), bytes(theirs.payload), theirs.qos, theirs.mid)


@pytest.mark.parametrize(
    ("command", "packet", "mqtt5"),
    [
        (*publish_packet(b"a/b", b"x", 2, 7, None), False),  # QoS 2: paho's handshake
        (*publish_packet(b"a/b", b"x", 1, 7, content_type()), True),  # MQTT 5 properties
        (*publish_packet(b"", b"x", 1, 7, b"\x00"), True),  # no topic: a topic alias, or malformed
        (*publish_packet(b"\xff\xfe", b"x", 1, 7, None), False),  # a topic that is not UTF-8
        (PUBLISH, b"\x00\x09a/b", False),  # shorter than its topic length says
        (PUBLISH | 2, b"\x00\x09a/b", False),
        (PUBLISH | 2, b"\x00\x03a/b\x00", False),  # cut in its message id
        (PUBLISH | 2, b"\x00\x03a/b\x00\x07", True),  # no properties length
    ],
)
def test_what_is_not_a_plain_publish_is_left_to_paho(command: int, packet: bytes, mqtt5: bool) -> None:
    assert decode_publish(command, packet, mqtt5) is None


def test_pubacks_are_paho_s_back_to_back() -> None:
    mids = [1, 255, 256, 65535]
    assert pubacks(mids) == b"".join(struct.pack("!BBH", paho.PUBACK, 2, mid) for mid in mids)
    assert pubacks([]) == b""


class Socket:
    """A non-blocking socket's reads: the chunks given, then BlockingIOError."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)[:size]

    def close(self) -> None:
        self.chunks = []


def test_read_ahead_serves_small_reads_from_one_large_one() -> None:
    inner = Socket(b"\x30\x05hello\x40", b"")
    sock = ReadAhead(inner)
    assert [sock.recv(1), sock.recv(1), sock.pending(), sock.recv(100)] == [b"\x30", b"\x05", 6, b"hello\x40"]
    assert len(inner.asked) == 1 and inner.asked[0] > 100_000
    assert sock.pending() == 0
    assert sock.recv(1) == b""  # the connection closed: paho sees its end as before
    with pytest.raises(BlockingIOError):
        sock.recv(1)


def wire(command: int, packet: bytes) -> bytes:
    """A whole packet as it comes over the connection."""
    length, remaining = len(packet), bytearray()
    while True:
        length, byte = divmod(length, 128)
        remaining.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([command]) + bytes(remaining) + packet


def test_the_bridge_client_hands_on_what_one_read_brought_in_order_through_paho_s_own_reading() -> None:
    client = BridgeClient(CallbackAPIVersion.VERSION2, client_id="x", protocol=paho.MQTTv5, manual_ack=True)
    bursts: list[list[Received]] = []
    client.on_received = bursts.append
    first = wire(*publish_packet(b"a/b", b"42", 1, 9, b"\x00"))
    by_paho = wire(*publish_packet(b"a/c", b"43", 1, 10, content_type()))  # properties: paho's own path
    pingresp = wire(0xD0, b"")  # not a PUBLISH: paho's
    big = wire(*publish_packet(b"a/e", b"7" * 300, 1, 11, b"\x00"))  # a remaining length of two bytes
    qos_0 = wire(*publish_packet(b"a/d", b"44", 0, 0, b"\x00"))
    client._sock = ReadAhead(Socket(first + by_paho + pingresp + big + qos_0[:3], qos_0[3:]))
    assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert bursts == [
        [
            Received("a/b", b"42", 1, 9),
            Received("a/c", b"43", 1, 10),
            Received("a/e", b"7" * 300, 1, 11),
            Received("a/d", b"44", 0, 0),
        ],
    ]
    assert client.loop_read() == paho.MQTT_ERR_SUCCESS and len(bursts) == 1  # nothing more: nothing handed on


def test_a_whole_packet_is_found_in_the_buffer_and_a_cut_one_is_not() -> None:
    packet = wire(*publish_packet(b"a/e", b"7" * 300, 1, 11, b"\x00"))
    sock = ReadAhead(Socket(packet + packet[:200]))
    assert sock.recv(0) == b""  # the buffer filled
    whole = sock.whole_packet()
    assert whole is not None and whole[0] == packet[0] and whole[1] == packet[3:] and whole[2] == len(packet)
    sock.skip_to(whole[2])
    assert sock.whole_packet() is None and sock.buffered == 200
    malformed = ReadAhead(Socket(b"\x30\xff\xff\xff\xff\x01"))  # a remaining length of five bytes
    assert malformed.recv(0) == b"" and malformed.buffered == 6
    assert malformed.whole_packet() is None  # left to paho, which says it is malformed


def test_a_batch_is_acknowledged_with_one_queued_write() -> None:
    client = BridgeClient(CallbackAPIVersion.VERSION2, client_id="x", protocol=paho.MQTTv5, manual_ack=True)
    assert callable(getattr(paho.Client, "_packet_queue", None))
    client.ack_many([9, 10])
    client.ack_many([])
    assert [bytes(p["packet"]) for p in client._out_packet] == [pubacks([9, 10])]
