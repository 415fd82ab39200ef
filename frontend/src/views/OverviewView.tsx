// The overview (`/`): five live device cards, system health, open alerts, key figures.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo } from "react";
import { Link } from "react-router-dom";
import { dashboardQuery } from "../api/queries";
import { DeadLetterSummary } from "../components/DeadLetterSummary";
import { DeviceCard } from "../components/DeviceCard";
import { Notice } from "../components/Notice";
import { countBySeverity, SeverityCounts } from "../components/SeverityCounts";
import { live, seedLive } from "../state/app";
import { sortAlerts } from "../state/live";
import { useStore } from "../state/store";
import { formatDuration, formatTime, titleCase } from "../util/format";

const DASHBOARD_REFRESH_MS = 30_000;
const SPARKLINE_MINUTES = 10;

function Kpi({ label, value, hint }: { label: string; value: string | number; hint?: string }) {
  return (
    <div className="kpi" title={hint}>
      <span className="kpi-value">{value}</span>
      <span className="kpi-label">{label}</span>
    </div>
  );
}

export function OverviewView() {
  const devicesById = useStore(live, (s) => s.devices);
  const series = useStore(live, (s) => s.series);
  const alertsById = useStore(live, (s) => s.alerts);
  const { data: dashboard } = useQuery({ ...dashboardQuery(), refetchInterval: DASHBOARD_REFRESH_MS });
  const system = useStore(live, (s) => s.system);
  const devices = useMemo(
    () => Object.values(devicesById).sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
    [devicesById],
  );
  const alerts = useMemo(() => sortAlerts(Object.values(alertsById)), [alertsById]);
  const deviceKey = devices.map((d) => d.deviceId).join(",");

  useEffect(() => {
    // The sparklines start from the last minutes of history.
    if (deviceKey)
      deviceKey.split(",").forEach((deviceId) => seedLive(deviceId, SPARKLINE_MINUTES * 60_000).catch(() => undefined));
  }, [deviceKey]);

  const online = devices.filter((d) => d.status !== "offline").length;
  return (
    <div className="overview">
      <h1 className="visually-hidden">Overview</h1>
      <section className="kpis card" aria-label="Key figures">
        <Kpi
          label="readings / min"
          value={dashboard?.readings.perMinute ?? "—"}
          hint="Readings stored in the last minute"
        />
        <Kpi label="devices online" value={devices.length ? `${online} / ${devices.length}` : "—"} />
        <Kpi label="open alerts" value={alerts.length} />
        <Kpi
          label="MTTA (24 h)"
          value={formatDuration(dashboard?.alerts.mttaSeconds24h)}
          hint="Mean time to acknowledge, last 24 hours"
        />
        <Kpi
          label="MTTR (24 h)"
          value={formatDuration(dashboard?.alerts.mttrSeconds24h)}
          hint="Mean time to resolve, last 24 hours"
        />
      </section>

      <section className="device-grid" aria-label="Devices">
        {devices.length === 0 && <Notice loading />}
        {devices.map((device) => (
          <DeviceCard key={device.deviceId} device={device} points={series[device.deviceId] ?? []} />
        ))}
      </section>

      <div className="two-columns">
        <section className="card" aria-label="Active alerts">
          <header className="card-header">
            <h2>Active alerts</h2>
            <Link to="/alerts">Manage alerts →</Link>
          </header>
          <SeverityCounts counts={countBySeverity(alerts)} />
          {alerts.length === 0 ? (
            <p className="muted">No open alerts. The line is within its limits.</p>
          ) : (
            <ul className="alert-list">
              {alerts.slice(0, 6).map((alert) => (
                <li key={alert.id} className={`sev-${alert.severity}`}>
                  <span className={`pill ${alert.severity}`}>{alert.severity}</span>
                  <span>
                    <Link to={`/devices/${alert.deviceId}`}>{alert.deviceId}</Link> {titleCase(alert.type)} ·{" "}
                    {titleCase(alert.status)}
                  </span>
                  <span className="muted small">{formatTime(alert.triggeredAt)}</span>
                </li>
              ))}
            </ul>
          )}
        </section>

        <section className="card" aria-label="System health">
          <header className="card-header">
            <h2>System health</h2>
            <span className={`pill ${system?.status === "healthy" ? "ok" : system ? "high" : "none"}`}>
              {system?.status ?? "unknown"}
            </span>
          </header>
          <ul className="health-list">
            {Object.entries(system?.dependencies ?? {}).map(([name, dependency]) => (
              <li key={name}>
                <span
                  className={`dot ${dependency.status === "healthy" || dependency.status === "running" ? "ok" : "bad"}`}
                  aria-hidden="true"
                />
                {titleCase(name)} <span className="muted">{dependency.status}</span>
              </li>
            ))}
          </ul>
          <DeadLetterSummary deadLetters={system?.deadLetters} />
          <p className="muted small">
            {system
              ? `Checked ${formatTime(system.timestamp)}; every 5 s while connected.`
              : "Waiting for the first status…"}
          </p>
        </section>
      </div>
    </div>
  );
}
