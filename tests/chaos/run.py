"""One mode's chaos run: start the system, put it under steady load, inject the faults one after another (each
once the system is whole again after the last), drain, and check the invariants."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from eventing import topics
from tests.chaos import invariants
from tests.chaos.listener import AlertListener
from tests.chaos.load import Operator, SteadyLoad
from tests.chaos.probe import Probe
from tests.chaos.system import Fault, System
from tests.support.auth import bearer
from tests.support.processes import IOTMON
from tests.support.waiting import wait_for

WARM_UP_S = 10.0  # load before the first fault: alerts cycling, every consumer group committed once
QUIET_S = (5.0, 12.0)  # steady load between a recovery and the next fault: alerts keep cycling
DRAIN_TIMEOUT_S = 240.0
OPERATOR_EVERY_S = 15.0


@dataclass
class ModeResult:
    mode: str
    faults: int = 0
    readings_accepted: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    alert_changes: int = 0
    delivered: int = 0
    missed: int = 0
    max_recovery_s: float = 0.0
    alerts_not_on_topic: int = 0
    open_alert_conflicts: int = 0
    dead_letters: int = 0
    dlq_good_left: int = 0  # good readings in a dead letter, not stored (or, without a replay, still there)
    dlq_replay: str = "not run"
    dlq_waiting: int | None = None  # letters `iotmon dlq list` still shows after the replay (set aside ones)
    unrecovered: int = 0
    socket_duplicates: int = 0  # the same change heard twice by one client, before dedup
    socket_connections: int = 0
    acknowledged: int = 0
    failed_requests: int = 0
    unclean_exits: dict[str, list[int]] = field(default_factory=dict)
    recoveries: dict[str, float] = field(default_factory=dict)  # the slowest recovery of each kind of fault
    samples: dict[str, list[Any]] = field(default_factory=dict)
    seconds: float = 0.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(line: dict[str, Any]) -> None:
    """A structured progress line on stdout."""
    print(json.dumps(line, default=str), flush=True)


def deck(faults: list[Fault], count: int, rng: random.Random) -> list[Fault]:
    """`count` faults in a random order, every kind once per round: each kind is injected about as often."""
    chosen: list[Fault] = []
    while len(chosen) < count:
        round_ = list(faults)
        rng.shuffle(round_)
        chosen += round_
    return chosen[:count]


def run_mode(system: System, fault_count: int, rng: random.Random, rate: float) -> ModeResult:
    result = ModeResult(system.name)
    started = time.monotonic()
    with contextlib.ExitStack() as running:  # whatever happens, everything started is stopped, last first
        running.callback(system.close)
        say(f"{system.name}: starting the system…")
        system.start()
        listener = AlertListener(system.url).start()
        running.callback(listener.stop)
        probe = Probe(system.url, lambda: system.database_url, listener)
        running.callback(probe.close)
        wait_for(lambda: listener.subscribed, 30, what="the Socket.IO listener to subscribe")
        load = SteadyLoad(system.url, rate, seed=rng.randrange(2**32)).start()
        running.callback(load.stop)
        headers = bearer(system.url, system.database_url, "operator")
        operator = Operator(system.url, lambda: system.database_url, headers, OPERATOR_EVERY_S, rng.randrange(2**32))
        running.callback(operator.stop)
        operator.start()
        say(f"{system.name}: {load.rate:.0f} readings/s; {fault_count} faults…")
        time.sleep(WARM_UP_S)
        _inject(system, deck(system.faults(), fault_count, rng), rng, probe, result, started)
        load.stop()
        operator.stop()
        say(f"{system.name}: draining…")
        snapshot = _drain(system, listener)
        _replay_dead_letters(system, listener, result)
        _check(system, load, probe, listener, snapshot, result)
        result.acknowledged = operator.acknowledged
        result.unclean_exits = system.unclean_exits()
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _inject(
    system: System, faults: list[Fault], rng: random.Random, probe: Probe, result: ModeResult, started: float
) -> None:
    for number, fault in enumerate(faults, 1):
        time.sleep(rng.uniform(*QUIET_S))
        at = datetime.now(UTC)
        injected = fault.inject(rng)
        recovered = probe.recovery()
        recovery = recovered.seconds
        result.faults += 1
        line = {
            "mode": system.name,
            "fault": number,
            "of": len(faults),
            "what": injected.what,
            "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "t_s": round(time.monotonic() - started, 1),
            "down_s": round(injected.down_s, 2),
            "recovery_s": None if recovery is None else round(recovery, 2),
            "firsts": recovered.firsts,
        }
        emit(line)
        if recovery is None:
            result.unrecovered += 1
            say(f"{system.name}: not whole again after {injected.what}; no further faults")
            return
        result.max_recovery_s = max(result.max_recovery_s, round(recovery, 2))
        result.recoveries[fault.name] = max(result.recoveries.get(fault.name, 0.0), round(recovery, 2))


def _connect(system: System) -> psycopg.Connection[Any]:
    return psycopg.connect(system.database_url, autocommit=True)


def _drain(system: System, listener: AlertListener) -> int:
    """Until every accepted event is handled, every alert change made so far is on `alerts` and the listener
    has heard it (or the time is up: the checks then say what is missing). Returns the newest change then."""

    def settled() -> bool:
        try:
            return system.backlog() == 0
        except Exception:  # a consumer group being rebalanced answers later
            return False

    _wait(settled, "the consumer groups to catch up")
    with _connect(system) as conn:
        snapshot = invariants.latest_change(conn)
        _wait(lambda: invariants.unpublished(conn, snapshot) == 0, "the outbox to empty")
        made = invariants.history(conn, snapshot)
    _wait(lambda: made <= listener.sequences(), "the listener to hear every alert change")
    return snapshot


def _wait(condition: Callable[[], bool], what: str) -> None:
    try:
        wait_for(condition, DRAIN_TIMEOUT_S, what=what, every=0.5)
    except AssertionError as error:  # the checks that follow say what is missing
        say(f"drain: {error}")


def _replay_dead_letters(system: System, listener: AlertListener, result: ModeResult) -> None:
    """`iotmon dlq replay` where this branch has it, then drain again, and how many letters `iotmon dlq list`
    still shows waiting; without the command the letters are counted as they are."""
    env = dict(system.tool_env())
    if subprocess.run([IOTMON, "dlq", "--help"], env=env, capture_output=True).returncode != 0:
        result.dlq_replay = "unavailable (no `iotmon dlq` command)"
        return
    replay = subprocess.run([IOTMON, "dlq", "replay"], env=env, capture_output=True, text=True, timeout=300)
    say(f"{system.name}: iotmon dlq replay (exit {replay.returncode}): {replay.stdout[-500:]}{replay.stderr[-500:]}")
    result.dlq_replay = f"ran (exit {replay.returncode})"
    _drain(system, listener)
    listed = subprocess.run([IOTMON, "dlq", "list", "--json"], env=env, capture_output=True, text=True, timeout=120)
    try:
        result.dlq_waiting = int(json.loads(listed.stdout)["waiting"])
    except (ValueError, KeyError, TypeError):
        say(f"{system.name}: iotmon dlq list --json (exit {listed.returncode}): {listed.stderr[-500:]}")


def _check(
    system: System, load: SteadyLoad, probe: Probe, listener: AlertListener, snapshot: int, result: ModeResult
) -> None:
    accepted = [*load.accepted, *probe.accepted]
    on_topic = invariants.sequences(system.records(topics.ALERTS))
    letters = system.records(topics.SENSORS_DATA_DLQ) + system.records(topics.ALERTS_DLQ)
    with open(system.workdir / "dead-letters.jsonl", "w") as out:  # the evidence, should there be any
        out.writelines(json.dumps(invariants.describe(letter), default=str) + "\n" for letter in letters)
    with _connect(system) as conn:
        readings = invariants.readings(conn, accepted)
        alerts = invariants.alert_changes(invariants.history(conn, snapshot), listener.sequences(), on_topic)
        result.open_alert_conflicts = invariants.open_alert_conflicts(conn)
        dead = invariants.dead_letters(conn, letters, set(accepted))
    result.readings_accepted, result.stored = readings.accepted, readings.stored
    result.lost, result.duplicated = readings.lost, readings.duplicated
    result.alert_changes, result.delivered, result.missed = alerts.changes, alerts.delivered, alerts.missed
    result.alerts_not_on_topic = alerts.not_on_topic
    result.dead_letters = dead.letters
    replayed = result.dlq_replay.startswith("ran")
    result.dlq_good_left = dead.good_unstored if replayed else dead.good_readings
    result.socket_duplicates, result.socket_connections = listener.duplicates(), listener.connections
    result.failed_requests = load.failed_requests
    result.samples = {
        name: sample
        for name, sample in (
            ("lost", readings.lost_sample),
            ("missed", alerts.missed_sample),
            ("not_on_topic", alerts.not_on_topic_sample),
            ("dead_letters", [invariants.describe(letter, 300) for letter in letters[:3]]),
        )
        if sample
    }


def summary(results: list[ModeResult], seed: int) -> dict[str, Any]:
    """The run's figures over its modes: the issue's nine first, then the other invariants."""
    total: dict[str, Any] = {
        key: sum(getattr(r, key) for r in results)
        for key in (
            "faults",
            "readings_accepted",
            "stored",
            "lost",
            "duplicated",
            "alert_changes",
            "delivered",
            "missed",
        )
    }
    total["max_recovery_s"] = max((r.max_recovery_s for r in results), default=0.0)
    for key in ("alerts_not_on_topic", "open_alert_conflicts", "dead_letters", "dlq_good_left", "unrecovered"):
        total[key] = sum(getattr(r, key) for r in results)
    total["modes"] = [r.mode for r in results]
    total["seed"] = seed
    return total


MAX_RECOVERY_S = 15.0


def passed(total: dict[str, Any]) -> bool:
    zeros = ("lost", "duplicated", "missed", "alerts_not_on_topic", "open_alert_conflicts", "dlq_good_left")
    return (
        all(total[key] == 0 for key in zeros)
        and total["unrecovered"] == 0
        and total["max_recovery_s"] <= MAX_RECOVERY_S
    )


def mode_line(result: ModeResult) -> dict[str, Any]:
    return {"mode_result": result.mode, **{k: v for k, v in asdict(result).items() if k != "mode"}}
