"""Kafka topic names: the pipeline's three (see docs/architecture.md), and a dead-letter topic per event contract."""

SENSORS_DATA = "sensors-data"
METRICS = "metrics"
ALERTS = "alerts"
SENSORS_DATA_DLQ = "sensors-data.dlq"  # readings ingest rejects, and readings no function could take
ALERTS_DLQ = "alerts.dlq"  # alert changes notify could not handle

DEAD_LETTER = (SENSORS_DATA_DLQ, ALERTS_DLQ)
ALL = (SENSORS_DATA, METRICS, ALERTS, *DEAD_LETTER)
