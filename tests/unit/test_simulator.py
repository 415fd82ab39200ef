"""The simulator: realistic, valid readings at the right pace, in all three modes."""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cloudevents.http import CloudEvent

from eventing.binding import decode
from eventing.events import READING, READING_BATCH
from eventing.memory import MemoryTransport
from eventing.topics import SENSORS_DATA
from eventing.transport import DeliveryError
from iotmon.core.readings import check_time, parse_reading
from iotmon.simulator import (
    SEED_DEVICES,
    ColumnTarget,
    DeviceProfile,
    Simulator,
    default_mapping,
    device_id_for,
    generate_batches,
    live,
    load,
    load_devices,
    make_reading,
    new_state,
    next_sample,
    parse_mapping,
    read_rows,
    replay,
    replay_plan,
    resolve_mapping,
    run_load,
    run_replay,
    sensor_type_for,
)
from iotmon.simulator.registration import as_new
from tests.support.paths import REPO
from tests.support.waiting import wait_for

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,49}$")
START = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)


def published(transport: MemoryTransport) -> list[tuple[CloudEvent, Any]]:
    """Every event on sensors-data with its decoded data."""
    events = [decode(r.headers, r.key, r.value) for r in transport.records(SENSORS_DATA)]
    return [(event, msgspec.json.decode(event.get_data())) for event in events]


def replayed(transport: MemoryTransport) -> list[dict[str, Any]]:
    """The readings of the batch events on sensors-data, in order."""
    return [reading for _, data in published(transport) for reading in data["readings"]]


def assert_valid(readings: Sequence[dict[str, Any]], now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    for reading in readings:
        parsed = parse_reading(reading)  # raises on any schema violation
        assert check_time(parsed, now) is None, reading
        assert set(reading) == {"deviceId", "timestamp", "sensorType", "value", "unit", "location", "status"}


def samples(profile: DeviceProfile, n: int, rate: float, seed: int, step_s: float = 17.0) -> list[tuple[datetime, Any]]:
    # 17 s steps: 5 000 samples cover the daily cycle.
    rng = random.Random(seed)
    state = new_state(profile, rng)
    times = [START + timedelta(seconds=i * step_s) for i in range(n)]
    return [(at, next_sample(profile, state, at, rng, rate)) for at in times]


# --- devices ---------------------------------------------------------------------------------


def test_seed_devices_match_the_seed_migration() -> None:
    sql = (REPO / "schema" / "003_seed_devices.sql").read_text()
    value = r" *([\w.]+),"
    row = r"\('(device-\d+)', *'[^']*', *'(\w+)', *'([\w-]+)', *'([\w/]+)'," + value * 4 + r" *(\d+)\)"
    rows = re.findall(row, sql)
    assert len(rows) == 5

    def number(text: str) -> float | None:
        return None if text == "NULL" else float(text)

    # SQL order: id, type, location, unit, normal min/max, alert min/max, period in ms
    from_sql = {(r[0], r[1], r[3], r[2], *map(number, r[4:8]), int(r[8]) / 1000) for r in rows}
    assert {astuple(device) for device in SEED_DEVICES} == from_sql


# --- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", SEED_DEVICES, ids=lambda p: p.device_id)
def test_samples_are_realistic_and_valid(profile: DeviceProfile) -> None:
    produced = samples(profile, 5000, 0.05, seed=1)
    assert_valid([make_reading(profile, s.value, at) for at, s in produced], now=produced[-1][0])
    normal = [s.value for _, s in produced if not s.is_anomaly]
    assert all(profile.normal_min <= v <= profile.normal_max for v in normal)
    assert max(normal) - min(normal) > 0.2 * profile.span  # it moves: drift, daily cycle, noise
    repeats = sum(a == b for a, b in itertools.pairwise(normal))
    assert repeats < 0.05 * len(normal)  # noisy, not flat (stuck runs are anomalies)
    if profile.sensor_type == "quality":
        assert all(s.value <= 100 for _, s in produced)
    if profile.sensor_type in ("vibration", "production"):
        assert all(s.value >= 0 for _, s in produced)


@pytest.mark.parametrize("profile", SEED_DEVICES, ids=lambda p: p.device_id)
def test_each_kind_of_anomaly_looks_like_one(profile: DeviceProfile) -> None:
    produced = samples(profile, 4000, 0.2, seed=2)
    kinds = Counter(s.anomaly for _, s in produced if s.is_anomaly)
    assert set(kinds) == {"spike", "drop", "stuck"}
    last_normal = None
    for _, sample in produced:
        if sample.anomaly == "spike":
            high = profile.alert_max is not None and sample.value > profile.alert_max
            low = profile.alert_min is not None and sample.value < profile.alert_min
            assert high or low, sample
        elif sample.anomaly == "drop":
            assert sample.value < profile.normal_min or sample.value == 0, sample
        elif sample.anomaly == "stuck":
            assert sample.value == last_normal
        else:
            last_normal = sample.value


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_anomaly_fraction_is_near_the_configured_rate(rate: float) -> None:
    flags = [s.is_anomaly for profile in SEED_DEVICES for _, s in samples(profile, 4000, rate, seed=3)]
    assert abs(sum(flags) / len(flags) - rate) < max(0.015, rate * 0.15)


def test_no_anomalies_at_rate_zero() -> None:
    assert not any(s.is_anomaly for profile in SEED_DEVICES for _, s in samples(profile, 2000, 0.0, seed=4))


def test_the_same_seed_gives_the_same_sequence() -> None:
    profile = SEED_DEVICES[0]
    first = [s for _, s in samples(profile, 500, 0.05, seed=42)]
    assert first == [s for _, s in samples(profile, 500, 0.05, seed=42)]
    assert first != [s for _, s in samples(profile, 500, 0.05, seed=43)]


def test_a_bad_anomaly_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        Simulator(MemoryTransport(), anomaly_rate=1.5)


# --- live ------------------------------------------------------------------------------------


class FakeClock:
    """A simulated clock and stop event in one, for the live, load and replay loops (their `time.monotonic()` and
    the event they wait on): waiting moves time on at once; the clock stops at `until`."""

    def __init__(self, until: float = math.inf) -> None:
        self.now = 0.0
        self.until = until

    def monotonic(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.now >= self.until

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None or self.now + timeout >= self.until:
            self.now = max(self.now, self.until)
            return True
        self.now += timeout
        return False


class Clocked:
    """A publisher noting the simulated time of each reading it is given."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: dict[str, list[float]] = defaultdict(list)
        self.readings: list[dict[str, Any]] = []

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        for event in events:
            data = dict(event.get_data())
            self.sent[data["deviceId"]].append(self.clock.now)
            self.readings.append(data)


def simulated_time(monkeypatch: pytest.MonkeyPatch, until: float = math.inf) -> FakeClock:
    clock = FakeClock(until)
    for module in (live, load, replay):
        monkeypatch.setattr(module, "time", clock)  # the loops' time.monotonic()
    return clock


def run_for(seconds: float, monkeypatch: pytest.MonkeyPatch, seed: int = 5) -> Clocked:
    """The live simulator's loop over `seconds` of simulated time (no waiting)."""
    clock = simulated_time(monkeypatch, until=seconds)
    publisher = Clocked(clock)
    Simulator(publisher, seed=seed).run(clock)  # the simulated clock stands in for time
    return publisher


def test_live_simulator_sends_each_device_at_its_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each device's first reading at once, then one per period ± 10 % (on a simulated clock)."""
    run = run_for(2.5, monkeypatch)
    counts = {device: len(times) for device, times in run.sent.items()}
    # periods 2, 3, 1, 5, 4 s: in 2.5 s, at 0 and ~2; at 0; at 0, ~1, ~2; at 0; at 0
    assert counts == {"device-001": 2, "device-002": 1, "device-003": 3, "device-004": 1, "device-005": 1}
    assert_valid(run.readings)

    run = run_for(600, monkeypatch)
    for profile in SEED_DEVICES:
        times = run.sent[profile.device_id]
        assert times[0] == 0.0, profile.device_id
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(0.9 * profile.period_s - 1e-9 <= gap <= 1.1 * profile.period_s + 1e-9 for gap in gaps), profile
        assert max(gaps) - min(gaps) > 0.05 * profile.period_s  # jittered: devices do not stay in lock-step
        assert abs(len(times) - (1 + 600 / profile.period_s)) <= 0.1 * 600 / profile.period_s


def test_live_simulator_runs_in_a_thread_until_stopped() -> None:
    transport = MemoryTransport()
    simulator = Simulator(transport, seed=5)
    assert simulator.health()["status"] == "stopped"
    simulator.start()
    try:
        # Every device's first reading goes out at once; device-003 (1 s) then sends every second.
        wait_for(
            lambda: (
                (h := simulator.health())["status"] == "running"
                and all(d["sent"] >= 1 for d in h["devices"].values())
                and h["devices"]["device-003"]["sent"] >= 2
            ),
            timeout=10,
            what="the simulator's first readings",
        )
    finally:
        stopping = time.monotonic()
        simulator.stop()
    assert time.monotonic() - stopping < 1.0

    events = published(transport)
    counts = Counter(data["deviceId"] for _, data in events)
    assert set(counts) == {profile.device_id for profile in SEED_DEVICES}
    for event, data in events:
        assert event["type"] == READING and event["partitionkey"] == data["deviceId"]
    assert_valid([data for _, data in events])

    health = simulator.health()
    assert health["status"] == "stopped"
    assert health["readingsSent"] == len(events) and health["errors"] == 0
    assert health["anomalyRate"] == 0.05
    assert {d: h["sent"] for d, h in health["devices"].items()} == dict(counts)
    last = {d: max(data["timestamp"] for _, data in events if data["deviceId"] == d) for d in counts}
    assert {d: h["lastSent"] for d, h in health["devices"].items()} == last


class FlakyPublisher:
    """Refuses every other publish call, as a broker might during an outage."""

    def __init__(self) -> None:
        self.transport = MemoryTransport()
        self.calls = 0

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        self.calls += 1
        if self.calls % 2 == 0:
            raise DeliveryError("broker unavailable")
        self.transport.publish(topic, events)


def test_a_publish_failure_is_logged_and_counted_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    fast = DeviceProfile("fast-1", "temperature", "celsius", None, 20, 80, 15, 85, 0.02)
    publisher = FlakyPublisher()
    simulator = Simulator(publisher, devices=[fast], seed=6)
    simulator.start()
    try:  # every other publish fails: it keeps sending (a reading each 20 ms) and counts both
        health = wait_for(
            lambda: (h := simulator.health())["errors"] >= 3 and h["readingsSent"] >= 3 and h,
            timeout=10,
            what="three failed and three sent readings",
        )
    finally:
        simulator.stop()
    assert health["status"] == "running"
    assert len(publisher.transport.records(SENSORS_DATA)) == simulator.health()["readingsSent"]
    warning = next(r for r in caplog.records if r.levelname == "WARNING")
    assert warning.deviceId == "fast-1" and "broker unavailable" in warning.error


def test_stop_is_prompt_with_no_devices() -> None:
    simulator = Simulator(MemoryTransport(), devices=[])
    simulator.start()
    stopping = time.monotonic()
    simulator.stop()
    assert time.monotonic() - stopping < 0.5 and simulator.health()["status"] == "stopped"


# --- load ------------------------------------------------------------------------------------


def test_generated_batches_have_the_right_size_count_and_keys() -> None:
    batches = list(generate_batches(1050, devices=20, batch_size=100, rate=500.0, start=START, gateways=4, seed=7))
    readings = [r for _, batch in batches for r in batch]
    assert len(readings) == 1050
    assert all(len(batch) == 100 for _, batch in batches[:-4]) and all(len(b) <= 100 for _, b in batches)
    assert {key for key, _ in batches} == {"gateway-01", "gateway-02", "gateway-03", "gateway-04"}
    for key, batch in batches:  # a gateway sends only its own devices
        assert {(int(r["deviceId"][5:]) - 1) % 4 + 1 for r in batch} == {int(key[-2:])}
    assert_valid(readings, now=START)

    by_device: dict[str, list[datetime]] = defaultdict(list)
    for reading in readings:
        by_device[reading["deviceId"]].append(datetime.fromisoformat(reading["timestamp"]))
    assert sorted(by_device) == [f"load-{i:05d}" for i in range(1, 21)]
    for times in by_device.values():  # each device reports every devices / rate seconds
        times.sort()
        assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(seconds=20 / 500)}
    kinds = [r["sensorType"] for r in sorted(readings, key=lambda r: r["deviceId"])[::53]]
    assert set(kinds) == {"temperature", "pressure", "vibration", "production", "quality"}


class Timed:
    """A publisher noting the simulated time of each publish call and how many readings it carried."""

    def __init__(self, clock: FakeClock, transport: MemoryTransport) -> None:
        self.clock, self.transport = clock, transport
        self.at: list[float] = []
        self.readings: list[int] = []

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        self.at.append(self.clock.now)
        self.readings.append(sum(len(e.get_data().get("readings", [None])) for e in events))
        self.transport.publish(topic, events)


def test_load_mode_holds_the_rate_and_spreads_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = simulated_time(monkeypatch)
    transport = MemoryTransport(partitions=4)
    publisher = Timed(clock, transport)
    summary = run_load(publisher, devices=50, rate=2000.0, batch_size=50, count=1000, seed=8, stop=clock)
    events = published(transport)
    assert all(event["type"] == READING_BATCH for event, _ in events)
    assert sum(len(data["readings"]) for _, data in events) == summary.sent == 1000
    assert summary.batches == len(events) and summary.errors == 0
    # On schedule: each batch goes out when its last reading is due, at 2,000 a second.
    assert publisher.at == pytest.approx([sent / 2000 for sent in itertools.accumulate(publisher.readings)])
    assert summary.seconds == pytest.approx(0.5) and summary.rate == pytest.approx(2000)
    assert len({record.partition for record in transport.records(SENSORS_DATA)}) >= 3
    assert len({event["partitionkey"] for event, _ in events}) == 8
    assert_valid([r for _, data in events for r in data["readings"]])


def test_load_mode_runs_for_a_duration() -> None:
    summary = run_load(MemoryTransport(), devices=10, rate=1000.0, batch_size=20, duration=0.3, seed=9)
    assert summary.sent == 300 and summary.as_dict()["sent"] == 300


# --- replay ----------------------------------------------------------------------------------

SMALL_CSV = """datetime;Temperature;Pressure;Volume Flow RateRMS;anomaly;changepoint
2020-03-09 10:00:00;70.126;0.5;32.0;0.0;0.0
2020-03-09 10:00:01;71.0;0.6;32.1;0.0;0.0
2020-03-09 10:00:03;72.0;;32.2;1.0;1.0
"""


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "run.csv"
    path.write_text(SMALL_CSV)
    return path


def test_column_names_become_valid_sensor_types_and_device_ids() -> None:
    assert sensor_type_for("Volume Flow RateRMS") == "volume_flow_raterms"
    assert sensor_type_for("Temperature") == "temperature"
    assert sensor_type_for("1st sensor (%)") == "s_1st_sensor"
    assert device_id_for("Volume Flow RateRMS") == "skab-volume-flow-raterms"
    assert DEVICE_ID.match(device_id_for("Accelerometer1RMS"))


def test_rows_skip_gaps_and_the_default_mapping_skips_labels(small_csv: Path) -> None:
    columns, rows = read_rows(small_csv)
    assert len(rows) == 3 and "Pressure" not in rows[2].values
    targets = default_mapping(columns)
    assert sorted(targets) == ["Pressure", "Temperature", "Volume Flow RateRMS"]
    assert targets["Temperature"].device_id == "skab-temperature"
    assert (targets["Pressure"].sensor_type, targets["Pressure"].unit) == ("pressure", "bar")


def test_a_mapping_onto_seed_devices_takes_their_type_unit_and_location(small_csv: Path) -> None:
    _, rows = read_rows(small_csv)
    targets = resolve_mapping(parse_mapping("Temperature=device-001, Pressure=device-002"))
    readings = [r for _, batch in replay_plan(rows, targets, START, speed=1) for r in batch]
    assert [r["deviceId"] for r in readings] == ["device-001", "device-002"] * 2 + ["device-001"]
    first = readings[0]
    assert (first["sensorType"], first["unit"], first["location"], first["value"]) == (
        "temperature",
        "celsius",
        "assembly-line-1",
        70.13,
    )
    assert_valid(readings, now=START)


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_replay_rebases_timestamps_onto_now_and_divides_intervals_by_speed(small_csv: Path, speed: float) -> None:
    _, rows = read_rows(small_csv)
    plan = list(replay_plan(rows, default_mapping(["Temperature"]), START, speed))
    assert [delay for delay, _ in plan] == pytest.approx([0, 1 / speed, 3 / speed])
    stamps = [datetime.fromisoformat(batch[0]["timestamp"]) for _, batch in plan]
    assert [(t - START).total_seconds() for t in stamps] == pytest.approx([0, 1 / speed, 3 / speed])


def test_replay_as_fast_as_possible_keeps_intervals_and_ends_now(small_csv: Path) -> None:
    _, rows = read_rows(small_csv)
    plan = list(replay_plan(rows, default_mapping(["Temperature"]), START, speed=0))
    assert [delay for delay, _ in plan] == [0, 0, 0]
    stamps = [datetime.fromisoformat(batch[0]["timestamp"]) for _, batch in plan]
    assert stamps == [START - timedelta(seconds=3), START - timedelta(seconds=2), START]


def test_replay_sends_at_the_files_pace(small_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = simulated_time(monkeypatch)
    transport = MemoryTransport()
    publisher = Timed(clock, transport)
    before = datetime.now(UTC)
    summary = run_replay(publisher, small_csv, {"Temperature": "device-001"}, speed=20, stop=clock)
    assert summary.rows == 3 and summary.sent == 3 and summary.errors == 0
    assert publisher.at == pytest.approx([0, 0.05, 0.15])  # rows 0, 1 and 3 s apart, 20 times as fast
    assert summary.seconds == pytest.approx(0.15)
    readings = sorted(replayed(transport), key=lambda r: r["timestamp"])
    assert [r["value"] for r in readings] == [70.13, 71.0, 72.0]
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in readings]
    assert before <= stamps[0] < before + timedelta(seconds=1)
    assert [(t - stamps[0]).total_seconds() for t in stamps] == pytest.approx([0, 0.05, 0.15])
    assert_valid(readings)


def test_replay_registers_its_devices_before_it_sends(small_csv: Path) -> None:
    transport = MemoryTransport()
    registered: list[tuple[list[str], int]] = []

    def register(targets: list[ColumnTarget]) -> None:
        registered.append(([target.device_id for target in targets], len(replayed(transport))))

    run_replay(transport, small_csv, {"Temperature": "oven-1"}, speed=0, register=register)
    assert registered == [(["oven-1"], 0)]  # once, before the first reading
    assert len(replayed(transport)) == 3


def test_simulated_devices_are_registered_with_their_kind_and_limits() -> None:
    first, second = (as_new(profile) for profile in load_devices(2))
    assert (first.device_id, first.device_type, first.unit, first.alert_max) == (
        "load-00001",
        "temperature",
        "celsius",
        85,
    )
    assert (second.device_type, second.location, second.update_period_ms) == ("pressure", "assembly-line-1", 3000)


def test_replay_refuses_a_mapping_to_a_missing_column(small_csv: Path) -> None:
    with pytest.raises(ValueError, match="Current"):
        run_replay(MemoryTransport(), small_csv, {"Current": "device-001"}, speed=0)


# A recording in SKAB's format (the Skoltech Anomaly Benchmark's valve1/*.csv: `;`-separated, a naive
# datetime, eight sensors sampled at 1 Hz, then the anomaly and changepoint labels), written by the test.
SKAB_COLUMNS = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]


@pytest.fixture
def skab_csv(tmp_path: Path) -> Path:
    """150 rows a second apart, values of SKAB's sizes and precision; rows 100-119 labelled anomalous."""
    start = datetime(2020, 3, 9, 10, 14, 33)
    lines = [";".join(["datetime", *SKAB_COLUMNS, "anomaly", "changepoint"])]
    for i in range(150):
        wave = math.sin(i / 9)
        values = [
            0.0265 + 0.001 * wave,
            0.0401 + 0.0012 * wave,
            1.33 + 0.05 * wave,
            0.0547 + 0.3 * abs(wave),
            79.34 + 0.2 * wave,
            26.02 + 0.01 * wave,
            233.06 + 3 * wave,
            32.0 + (i % 2),
        ]
        anomaly = 1.0 if 100 <= i < 120 else 0.0
        cells = [f"{start + timedelta(seconds=i):%Y-%m-%d %H:%M:%S}", *(f"{v:.7g}" for v in values)]
        lines.append(";".join([*cells, f"{anomaly:.1f}", f"{float(i == 100):.1f}"]))
    path = tmp_path / "valve1-0.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_of_a_skab_recording(skab_csv: Path) -> None:
    transport = MemoryTransport()
    summary = run_replay(transport, skab_csv, limit=120, speed=0)
    assert summary.rows == 120 and summary.sent == 120 * 8 and summary.seconds < 2
    readings = replayed(transport)
    assert_valid(readings)
    pressure = [r for r in readings if r["deviceId"] == "skab-pressure"]
    assert len(pressure) == 120 and {(r["sensorType"], r["unit"]) for r in pressure} == {("pressure", "bar")}
    assert pressure[0]["value"] == 0.05  # rounded to what PostgreSQL stores
    assert [r["timestamp"] for r in pressure] == sorted(r["timestamp"] for r in pressure)
    assert {r["deviceId"] for r in readings} == {
        "skab-accelerometer1rms",
        "skab-accelerometer2rms",
        "skab-current",
        "skab-pressure",
        "skab-temperature",
        "skab-thermocouple",
        "skab-voltage",
        "skab-volume-flow-raterms",
    }
    newest = max(datetime.fromisoformat(r["timestamp"]) for r in readings)
    assert abs((datetime.now(UTC) - newest).total_seconds()) < 5


class Slow(Timed):
    """A transport that takes `seconds` of simulated time per publish (an HTTP round trip, a Kafka flush)."""

    def __init__(self, clock: FakeClock, transport: MemoryTransport, seconds: float) -> None:
        super().__init__(clock, transport)
        self.seconds = seconds

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        super().publish(topic, events)
        self.clock.now += self.seconds


def test_replay_keeps_every_interval_and_catches_up_at_once_on_a_slow_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows 1 s apart at speed 60 are due every 16.7 ms; each publish takes 50 ms. Every stamp is still
    1/60 s after the one before, and a row goes out with the first publish after it is due: never held back."""
    path = tmp_path / "fast.csv"
    path.write_text("t,temp\n" + "".join(f"{1_700_000_000 + i},{20 + i % 5}\n" for i in range(120)))
    clock = simulated_time(monkeypatch)
    transport = MemoryTransport()
    publisher = Slow(clock, transport, seconds=0.05)
    summary = run_replay(publisher, path, {"temp": "oven-1"}, speed=60, stop=clock, time_column="t")
    assert summary.sent == 120 and summary.errors == 0
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in replayed(transport)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert gaps == pytest.approx([1 / 60] * 119, abs=2e-6)  # microsecond stamps
    due = [i / 60 for i in range(120)]
    sent_at = [at for at, n in zip(publisher.at, publisher.readings, strict=True) for _ in range(n)]
    assert all(at - when < 0.05 + 1e-9 for at, when in zip(sent_at, due, strict=True))  # at most one publish late
    assert summary.seconds <= 119 / 60 + 0.1  # no drift: done one late publish after the last row is due


def test_replay_reads_any_csv_with_the_columns_chosen(tmp_path: Path) -> None:
    path = tmp_path / "plant.tsv"
    path.write_text("when\toven\tdoor\n2024-05-01T10:00:00+02:00\t180.5\t1\n2024-05-01T10:00:02+02:00\t181\t0\n")
    columns, rows = read_rows(path, time_column="when")
    assert columns == ["when", "oven", "door"]
    assert [row.at for row in rows] == [datetime(2024, 5, 1, 8, 0, s, tzinfo=UTC) for s in (0, 2)]
    plan = list(replay_plan(rows, resolve_mapping({"oven": "oven-1"}), START, speed=2))
    assert [delay for delay, _ in plan] == [0, 1]
    assert [batch[0]["value"] for _, batch in plan] == [180.5, 181.0]
    with pytest.raises(ValueError, match="no time column 'datetime'"):
        read_rows(path)


def test_a_speed_that_would_give_two_rows_one_stamp_is_refused(small_csv: Path) -> None:
    _, rows = read_rows(small_csv)
    with pytest.raises(ValueError, match="too fast"):
        list(replay_plan(rows, default_mapping(["Temperature"]), START, speed=2e6))


def test_replay_under_a_rate_limit_sends_less_often_with_the_same_stamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.csv"
    path.write_text("t;temp\n" + "".join(f"{1_700_000_000 + i};{20 + i % 5}\n" for i in range(60)))
    clock = simulated_time(monkeypatch)
    transport = MemoryTransport()
    publisher = Timed(clock, transport)
    summary = run_replay(publisher, path, {"temp": "oven-1"}, speed=30, stop=clock, time_column="t", min_interval_s=0.5)
    assert summary.sent == 60
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(publisher.at))
    assert len(publisher.at) <= 6  # 2 s of replay, a publish every 0.5 s at most
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in replayed(transport)]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)] == pytest.approx([1 / 30] * 59, abs=2e-6)
