"""`make bench`: the ingest pipeline against the raw COPY ceiling, the whole chain end to end (on Kafka in one
process, over HTTP as Knative runs it, and embedded on its event log), a fleet of 10,000 devices through the
chain, the dashboard with five devices and with a fleet of 10,000, MQTT messages and OPC UA value changes
through the bridges.

Prints a table, then one JSON object with every figure as the last line.
"""

from __future__ import annotations

import json
import sys

from tests.bench import dashboard, embedded, end_to_end, fleet, mqtt, opcua, pipeline

ROWS = [
    ("pipeline readings/s (Kafka → ingest → PG)", "readings_per_s"),
    ("raw COPY rows/s (same rows, same table)", "raw_copy_rows_per_s"),
    ("ratio", "ratio"),
    ("pipeline latency p50 ms (produce → stored)", "p50_ms"),
    ("pipeline latency p99 ms", "p99_ms"),
    ("stored exactly once", "stored_exactly_once"),
    ("end-to-end readings/s (all functions, in one process)", "e2e_readings_per_s"),
    ("end-to-end readings/s over HTTP (router + func servers)", "http_e2e_readings_per_s"),
    ("HTTP / in-process", "http_ratio"),
    ("reading → Socket.IO p50 ms", "reading_to_socket_p50_ms"),
    ("reading → Socket.IO p99 ms", "reading_to_socket_p99_ms"),
    ("out-of-range → alert-triggered p50 ms", "alert_p50_ms"),
    ("out-of-range → alert-triggered p99 ms", "alert_p99_ms"),
    ("embedded: single-reading POSTs/s (a commit each)", "embedded_single_posts_per_s"),
    ("embedded: 202 p50 ms", "embedded_202_p50_ms"),
    ("embedded: 202 p99 ms", "embedded_202_p99_ms"),
    ("embedded: readings/s accepted (batches of 500)", "embedded_accepted_readings_per_s"),
    ("embedded: readings/s through all functions", "embedded_e2e_readings_per_s"),
    ("fleet: devices (1 reading/s each, embedded)", "fleet_devices"),
    ("fleet: readings/s sent", "fleet_readings_per_s"),
    ("fleet: most seconds of readings behind", "fleet_max_lag_s"),
    ("fleet: seconds to clear the backlog after the load (None: not in FLEET_DRAIN_S)", "fleet_drain_s"),
    ("fleet: events still behind then", "fleet_backlog_left_events"),
    ("fleet: CPU µs per reading, `iotmon up`", "fleet_cpu_us_per_reading"),
    ("fleet: CPU µs per reading, its PostgreSQL and Redis", "fleet_servers_cpu_us_per_reading"),
    ("fleet: devices with live value, windows, rule state", "fleet_devices_kept"),
    ("fleet: Redis bytes per device", "redis_bytes_per_device"),
    ("fleet: PostgreSQL bytes per stored reading", "pg_bytes_per_reading"),
    ("fleet: `iotmon up` RSS MiB (most)", "rss_mib"),
    ("fleet: one escalate-cron sweep over every device, ms", "fleet_sweep_ms"),
    ("dashboard first view ms (five live values)", "dashboard_first_view_ms"),
    ("dashboard long tasks > 100 ms (live, 40 s)", "dashboard_long_tasks_over_100ms"),
    ("dashboard longest task ms (live)", "dashboard_longest_task_ms"),
    ("dashboard Plotly first load ms (once)", "dashboard_plotly_first_load_ms"),
    ("dashboard JS heap MiB", "dashboard_js_heap_mib"),
    ("fleet dashboard: devices", "fleet_dashboard_devices"),
    ("fleet dashboard first view ms, chain idle", "fleet_dashboard_first_view_idle_ms"),
    ("fleet dashboard first view ms (counts, groups, rows; live)", "fleet_dashboard_first_view_ms"),
    ("fleet dashboard requests for the first view", "fleet_dashboard_first_view_requests"),
    ("fleet dashboard requests while live (40 s, 4 scrolls)", "fleet_dashboard_requests_while_live"),
    ("fleet dashboard long tasks > 100 ms (live, 40 s)", "fleet_dashboard_long_tasks_over_100ms"),
    ("fleet dashboard longest task ms (live)", "fleet_dashboard_longest_task_ms"),
    ("fleet dashboard readings streamed meanwhile", "fleet_dashboard_readings_streamed"),
    ("dashboard first chart ms (click → drawn, Plotly loaded)", "dashboard_first_chart_ms"),
    ("MQTT msgs/s through the bridge into Kafka (QoS 1)", "mqtt_bridge_msgs_per_s"),
    ("MQTT readings/s end to end into PostgreSQL", "mqtt_e2e_readings_per_s"),
    ("MQTT readings stored exactly once", "mqtt_stored_exactly_once"),
    ("OPC UA value changes/s through the bridge (into the event log)", "opcua_value_changes_per_s"),
    ("OPC UA server writes/s meanwhile (the bridge's input)", "opcua_server_writes_per_s"),
    ("OPC UA value changes per publish", "opcua_value_changes_per_publish"),
    ("OPC UA bridge CPU % of one core", "opcua_bridge_cpu_pct"),
]


def main() -> int:
    result = {
        **pipeline.measure(),
        **end_to_end.measure(),
        **embedded.measure(),
        **fleet.measure(),
        **dashboard.measure(),
        **dashboard.measure_fleet(),
        **mqtt.measure(),
        **opcua.measure(),
    }
    width = max(len(label) for label, _ in ROWS) + 2
    print(f"{'measure':<{width}}{'value':>12}")
    for label, key in ROWS:
        value = result[key]
        print(
            f"{label:<{width}}{value:>12,}"
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else f"{label:<{width}}{value!s:>12}"
        )
    print(json.dumps(result))
    return 0 if result["stored_exactly_once"] and result["mqtt_stored_exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
