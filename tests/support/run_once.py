"""One function called once, in a process of its own: fault tests set IOTMON_FAULT to kill it mid-way.

    python -m tests.support.run_once evaluate-rule <database_url> <redis_url> <readings.json>
    python -m tests.support.run_once escalate-cron <database_url> <redis_url>

Its events go to the event log in that database (eventing.postgres), as `iotmon up` wires them; evaluate-rule
gets the readings as one batch event, escalate-cron one tick (escalating every triggered alert).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import redis

from eventing.events import batch_event
from eventing.postgres import PostgresTransport
from eventing.sources import ping_event
from functions.escalate_cron import EscalateCron
from functions.evaluate_rule import EvaluateRule
from iotmon.adapters.postgres import db


def main(function: str, database_url: str, redis_url: str, readings: str | None = None) -> None:
    transport = PostgresTransport(database_url)
    store = redis.Redis.from_url(redis_url)
    if function == "evaluate-rule":
        items = json.loads(Path(readings or "").read_text())
        event = batch_event(items, "/tests", key=items[0]["deviceId"])
        EvaluateRule(db.pool(database_url), store, transport, config_ttl_s=0)([event])
    else:
        EscalateCron(db.pool(database_url), store, transport, escalate_after_s=0, retention=False)(
            [ping_event("escalate-cron-tick", "{}")]
        )
    transport.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
