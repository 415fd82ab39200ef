"""The IoT simulator: the five live seed devices, load generation and dataset replay.

All three publish binary-mode CloudEvents to `sensors-data` through any
`eventing.transport.Publisher` (Kafka or in-process), with readings that
satisfy `schema/events/reading.schema.json`.
"""

from iotmon.simulator.devices import SEED_DEVICES, DeviceProfile, format_timestamp, make_reading
from iotmon.simulator.live import Simulator
from iotmon.simulator.load import LoadSummary, gateway_for, generate_batches, load_devices, run_load
from iotmon.simulator.registration import register_devices, register_targets
from iotmon.simulator.replay import (
    ColumnTarget,
    ReplaySummary,
    default_mapping,
    device_id_for,
    parse_mapping,
    read_rows,
    replay_plan,
    resolve_mapping,
    run_replay,
    sensor_type_for,
)
from iotmon.simulator.signals import DEFAULT_ANOMALY_RATE, Sample, SignalState, new_state, next_sample

__all__ = [
    "DEFAULT_ANOMALY_RATE",
    "SEED_DEVICES",
    "ColumnTarget",
    "DeviceProfile",
    "LoadSummary",
    "ReplaySummary",
    "Sample",
    "SignalState",
    "Simulator",
    "default_mapping",
    "device_id_for",
    "format_timestamp",
    "gateway_for",
    "generate_batches",
    "load_devices",
    "make_reading",
    "new_state",
    "next_sample",
    "parse_mapping",
    "read_rows",
    "register_devices",
    "register_targets",
    "replay_plan",
    "resolve_mapping",
    "run_load",
    "run_replay",
    "sensor_type_for",
]
