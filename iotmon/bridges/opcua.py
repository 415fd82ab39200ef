"""`iotmon bridge opcua`: an OPC UA client whose monitored items' value changes become readings on `sensors-data`.

One long-lived connection with one subscription: every configured node is a
monitored item (sampling interval, server-side queue, DataChangeFilter with
the deadband). Value changes are collected for `batchMs`, translated by
`iotmon.core.opcua` and published as one batch event per device (the device
is the record key); rejections go to `sensors-data.dlq`. When the connection
is lost (the server restarts, the network drops), the bridge connects again
with growing waits and subscribes afresh; the server then sends each node's
current value again, which ingest stores once (same device, same source
timestamp). Value changes not yet published wait in memory for the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent, Subscription
from asyncua.crypto import security_policies
from asyncua.ua.attribute_ids import AttributeIds
from cloudevents.http import CloudEvent

from eventing import topics
from eventing.events import reading_batches, rejected_event
from eventing.transport import Publisher
from iotmon.core.bridging import Rejected
from iotmon.core.opcua import PASSWORD_ENV, Node, OpcUaConfig, ValueChange, translate

log = logging.getLogger("iotmon.bridge.opcua")

SOURCE = "/iotmon/bridge/opcua"
FIRST_WAIT_S = 0.5  # before the first reconnection; doubled after each failure
MAX_WAIT_S = 30.0
MAX_PENDING = 200_000  # value changes held while the transport is down; beyond it the oldest go


def password(config: OpcUaConfig, environ: Mapping[str, str] = os.environ) -> str | None:
    """The server password: the passwordFile's content, else IOTMON_OPCUA_PASSWORD (never in the config file)."""
    if config.server.password_file:
        return Path(config.server.password_file).read_text().rstrip("\r\n")
    return environ.get(PASSWORD_ENV) or None


@dataclass
class Counters:
    value_changes: int = 0
    readings: int = 0
    rejected: int = 0
    publishes: int = 0
    connections: int = 0
    dropped: int = 0


class OpcUaBridge:
    def __init__(
        self, config: OpcUaConfig, publisher: Publisher, *, password: str | None = None, max_wait_s: float = MAX_WAIT_S
    ) -> None:
        self.config = config
        self._publisher = publisher
        self._password = password
        self._max_wait_s = max_wait_s
        self._nodes = config.by_node_id()
        self._pending: deque[ValueChange] = deque()
        self._arrived = asyncio.Event()
        self.counters = Counters()
        self.connected = False

    def run(self, stop: threading.Event) -> None:
        """Bridge until `stop` is set (from another thread: a signal handler, a test)."""
        asyncio.run(self._run_until(stop))

    async def _run_until(self, stop: threading.Event) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        watcher = threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(stopping.set)), daemon=True)
        watcher.start()
        await self.serve(stopping)

    async def serve(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and publish; connect again with growing waits when the connection is lost."""
        publishing = asyncio.create_task(self._publish_batches(stop))
        wait = FIRST_WAIT_S
        try:
            while not stop.is_set():
                connections = self.counters.connections
                try:
                    await self._session(stop)
                    problem = "connection lost"
                except Exception as error:  # every failure to connect or subscribe is retried
                    problem = repr(error)
                if stop.is_set():
                    break
                if self.counters.connections > connections:  # it was up: the waits start over
                    wait = FIRST_WAIT_S
                log.warning(
                    "OPC UA disconnected; connecting again",
                    extra={"url": self.config.server.url, "error": problem, "retry_in_s": wait},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                wait = min(wait * 2, self._max_wait_s)
        finally:
            self._arrived.set()
            await publishing  # flushes what is pending, then ends

    async def _session(self, stop: asyncio.Event) -> None:
        client = await self._client()
        lost = asyncio.Event()

        async def on_lost(error: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        await client.connect()
        try:
            subscription = await self._subscribe(client)
            self.connected = True
            self.counters.connections += 1
            log.info("OPC UA subscribed", extra={"url": self.config.server.url, "nodes": len(self.config.nodes)})
            reading = asyncio.create_task(self._read(subscription, lost))
            waits = [asyncio.create_task(lost.wait()), asyncio.create_task(stop.wait()), reading]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            if reading.done() and not reading.cancelled() and (error := reading.exception()) is not None:
                raise error
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), self.config.server.timeout_s)

    async def _client(self) -> Client:
        server = self.config.server
        client = Client(server.url, timeout=server.timeout_s, auto_reconnect=False)
        client.application_uri = server.security.application_uri
        client.name = client.description = "iot-monitoring OPC UA bridge"
        if server.username:
            client.set_user(server.username)
        if self._password:
            client.set_password(self._password)
        security = server.security
        if security.policy != "None":
            assert security.certificate and security.private_key  # (the configuration checks it)
            await client.set_security(
                getattr(security_policies, f"SecurityPolicy{security.policy}"),
                security.certificate,
                security.private_key,
                server_certificate=security.server_certificate,
                mode=getattr(ua.MessageSecurityMode, security.mode),
            )
        return client

    async def _subscribe(self, client: Client) -> Subscription:
        config = self.config
        subscription = await client.create_subscription(
            config.publishing_interval_ms, handler=None, queue_maxsize=MAX_PENDING, overflow=OverflowPolicy.WARN
        )
        requests = [
            monitored_item(await _node_id(client, node.node_id), handle, config, node)
            for handle, node in enumerate(config.nodes, start=1)
        ]
        results = await subscription.create_monitored_items(requests)
        refused = {
            node.node_id: str(r) for node, r in zip(config.nodes, results, strict=True) if isinstance(r, ua.StatusCode)
        }
        if len(refused) == len(requests):
            raise RuntimeError(f"the server refused every monitored item: {refused}")
        for node_id, status in refused.items():
            log.warning("OPC UA node not monitored", extra={"node_id": node_id, "status": status})
        return subscription

    async def _read(self, subscription: Subscription, lost: asyncio.Event) -> None:
        """Move the subscription's notifications into the pending value changes."""
        handles = dict(enumerate(self.config.nodes, start=1))
        async for event in subscription:
            if isinstance(event, StatusChangeEvent):  # the server ended the subscription (timeout, shutdown)
                log.warning("OPC UA subscription status", extra={"status": str(event.notification.Status)})
                if event.notification.Status.is_bad():
                    lost.set()
                continue
            if isinstance(event, DataChangeEvent):
                node = handles.get(event.data.subscription_data.client_handle or 0)
                if node is not None:
                    self._add(value_change(node, event))

    def _add(self, change: ValueChange) -> None:
        self.counters.value_changes += 1
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self.counters.dropped += 1
            if self.counters.dropped % 1000 == 1:
                log.warning("value changes dropped: the transport is behind", extra={"dropped": self.counters.dropped})
        self._pending.append(change)
        self._arrived.set()

    async def _publish_batches(self, stop: asyncio.Event) -> None:
        """Collect for batchMs, publish; until stopped, and then once more for what is left."""
        while True:
            await self._arrived.wait()
            if not stop.is_set():
                await asyncio.sleep(self.config.batch_ms / 1000)
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.config.max_batch))]
                if not await self._publish(batch, stop):
                    self._pending.extendleft(reversed(batch))  # kept for the next try
                    break
            self._arrived.clear()
            if stop.is_set():
                if self._pending:
                    log.error("value changes not published at stop", extra={"pending": len(self._pending)})
                return
            if self._pending:  # the transport failed: wait before trying again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                self._arrived.set()

    async def _publish(self, batch: list[ValueChange], stop: asyncio.Event) -> bool:
        translation = translate(self.config, self._nodes, batch)
        readings = reading_batches(translation.readings, SOURCE)
        letters = [dead_letter(rejected) for rejected in translation.rejected]
        try:
            if readings:
                await asyncio.to_thread(self._publisher.publish, topics.SENSORS_DATA, readings)
            if letters:
                await asyncio.to_thread(self._publisher.publish, topics.SENSORS_DATA_DLQ, letters)
        except Exception as error:  # the transport is down: keep the batch (readings are idempotent)
            log.warning("publish failed; will retry", extra={"error": repr(error), "changes": len(batch)})
            return False
        self.counters.readings += len(translation.readings)
        self.counters.rejected += len(translation.rejected)
        self.counters.publishes += 1
        return True


def monitored_item(node_id: ua.NodeId, handle: int, config: OpcUaConfig, node: Node) -> ua.MonitoredItemCreateRequest:
    parameters = ua.MonitoringParameters(
        ClientHandle=handle,
        SamplingInterval=config.sampling_interval(node),
        QueueSize=config.queue_size,
        DiscardOldest=True,
    )
    deadband = config.deadband_of(node)
    if deadband is not None:
        parameters.Filter = ua.DataChangeFilter(
            Trigger=ua.DataChangeTrigger.StatusValue,
            DeadbandType=(ua.DeadbandType.Absolute if deadband.type == "absolute" else ua.DeadbandType.Percent).value,
            DeadbandValue=deadband.value,
        )
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=node_id, AttributeId=AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=parameters,
    )


async def _node_id(client: Client, text: str) -> ua.NodeId:
    """The node id; a namespace given by URI (nsu=) is looked up on this server, whose indexes may change."""
    parsed = ua.NodeId.from_string(text)
    if isinstance(parsed, ua.ExpandedNodeId) and parsed.NamespaceUri:
        index = await client.get_namespace_index(parsed.NamespaceUri)
        return ua.NodeId(parsed.Identifier, ua.Int16(index), parsed.NodeIdType)
    return parsed


def value_change(node: Node, event: DataChangeEvent) -> ValueChange:
    value: ua.DataValue = event.data.monitored_item.Value
    status = value.StatusCode or ua.StatusCode()
    return ValueChange(
        node_id=node.node_id,
        value=event.value,
        status_code=status.value,
        status_name=status.name,
        source_time=value.SourceTimestamp,
        server_time=value.ServerTimestamp,
        received_at=datetime.now(UTC),
    )


def dead_letter(rejected: Rejected) -> CloudEvent:
    """A value change that cannot be a reading, on `sensors-data.dlq`: from this bridge, about its node."""
    return rejected_event(rejected.reason, rejected.original, None, origin=rejected.origin, source=SOURCE)


def describe(config: OpcUaConfig) -> dict[str, Any]:
    """What the bridge connects to, for the start log (no secret in it)."""
    server = config.server
    return {
        "url": server.url,
        "policy": server.security.policy,
        "mode": server.security.mode,
        "user": server.username or "anonymous",
        "nodes": len(config.nodes),
    }
