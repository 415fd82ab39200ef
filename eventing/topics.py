"""Kafka topic names: the seed's three, and the dead-letter topic."""

SENSORS_DATA = "sensors-data"
METRICS = "metrics"
ALERTS = "alerts"
SENSORS_DATA_DLQ = "sensors-data.dlq"

ALL = (SENSORS_DATA, METRICS, ALERTS, SENSORS_DATA_DLQ)
