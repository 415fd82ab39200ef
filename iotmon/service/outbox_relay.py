"""The service's part in publishing alert changes: right after an operator's move, and every second.

Every alert move commits with its outbox row (iotmon.adapters.postgres.outbox). The service relays at
once after an operator's move, so that its answer can say whether the event went out, and in a loop (every
second by default): the safety net that publishes what a crashed function, or a failed publish, left behind.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from eventing.events import alert_sender
from iotmon.adapters.postgres import alerts, outbox
from iotmon.adapters.redis import active_alerts
from iotmon.service.context import ServiceContext

log = logging.getLogger(__name__)


def relay(context: ServiceContext) -> int:
    """Publish what the outbox holds; returns how many changes went out. Raises when they could not."""
    with context.pool.connection() as conn:
        return outbox.relay(conn, alert_sender(context.transport))


async def after_moves(context: ServiceContext) -> bool:
    """After alert moves the service made: refresh `alerts:active` (first, as evaluate-rule does), then publish
    them. Whether they went out (if not, they wait in the outbox for the relay loop)."""
    try:
        await active_alerts.changed_async(context.redis, lambda: active_document(context))
    except Exception:
        log.warning("could not refresh alerts:active", exc_info=True)
    try:
        await run_in_threadpool(relay, context)
    except Exception:
        log.exception("could not publish alert changes yet")
        return False
    return True


async def active_document(context: ServiceContext) -> bytes:
    def build() -> bytes:
        with context.pool.connection() as conn:
            return alerts.open_alerts_document(conn)

    return await run_in_threadpool(build)


class OutboxRelay:
    def __init__(self, context: ServiceContext, every_s: float) -> None:
        self.context = context
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.every_s)
            try:
                sent = await run_in_threadpool(relay, self.context)
            except Exception as error:
                if not failing:  # once per outage, not every second
                    log.warning("outbox relay failed; retrying every second", extra={"error": str(error)[:300]})
                failing = True
                continue
            if failing or sent:
                log.info("outbox relayed", extra={"changes": sent, "recovered": failing})
            failing = False
            await self._rewrite_if_stale()

    async def _rewrite_if_stale(self) -> None:
        """`alerts:active` behind its generation (a writer's last change while another rewrote it): rewritten."""
        try:
            if await active_alerts.stale(self.context.redis):
                await active_alerts.rewrite_async(self.context.redis, lambda: active_document(self.context))
        except Exception:
            log.warning("could not refresh alerts:active", exc_info=True)
