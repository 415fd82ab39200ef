"""The arithmetic of `make chaos` (tests/chaos), which runs outside `make test`: its figures must be right
when it reports them, so the pure parts are tested here (no servers)."""

import random
from datetime import UTC, datetime, timedelta

from cloudevents.http import CloudEvent

from tests.chaos.invariants import alert_changes, sequences
from tests.chaos.load import ALERT_DEVICES, Clock
from tests.chaos.run import ModeResult, deck, passed, summary
from tests.chaos.system import Fault, Injected


def test_each_key_is_sent_once_and_stays_near_now():
    clock = Clock()
    first, second = clock.next("d", 25), clock.next("d", 25)
    stamps = first + second
    assert len(set(stamps)) == 50 and stamps == sorted(stamps)
    assert all(at.microsecond % 1000 == 0 for at in stamps)  # exact in milliseconds, as the API sends them back
    assert datetime.now(UTC) - stamps[-1] < timedelta(seconds=1)
    assert clock.next("other", 1)[0] <= stamps[-1] + timedelta(seconds=1)  # devices have their own sequence


def test_alert_devices_breach_then_return_within_each_cycle():
    for device in ALERT_DEVICES:
        values = [device.value(t / 10) for t in range(int(device.cycle_s * 10))]
        assert 95.0 in values and 50.0 in values


def test_every_kind_of_fault_comes_round_before_any_repeats():
    faults = [Fault(str(n), lambda _rng: Injected("", 0.0)) for n in range(4)]
    chosen = [fault.name for fault in deck(faults, 10, random.Random(1))]
    assert len(chosen) == 10
    assert sorted(chosen[:4]) == sorted(chosen[4:8]) == ["0", "1", "2", "3"]


def test_missed_and_absent_changes_are_counted_from_what_postgresql_holds():
    figures = alert_changes(made={1, 2, 3, 4}, received={1, 2, 4, 9}, on_topic={1, 2, 3})
    assert (figures.changes, figures.delivered, figures.missed, figures.not_on_topic) == (4, 3, 1, 1)
    assert figures.missed_sample == [3] and figures.not_on_topic_sample == [4]


def test_sequences_on_the_alerts_topic():
    event = CloudEvent({"type": "io.iotmon.alert.triggered.v1", "source": "/t"}, b'{"sequence": 7}')
    assert sequences([event]) == {7}


def test_the_run_fails_on_any_loss_or_a_slow_recovery():
    good = ModeResult("embedded", faults=50, readings_accepted=10, stored=10, max_recovery_s=3.0)
    assert passed(summary([good], seed=1))
    assert not passed(summary([good, ModeResult("distributed", lost=1)], seed=1))
    assert not passed(summary([good, ModeResult("distributed", max_recovery_s=15.5)], seed=1))
    assert summary([good, ModeResult("distributed", faults=2)], seed=1)["faults"] == 52
