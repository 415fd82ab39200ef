// The overview (`/`): the fleet (counts by state, locations, search, the virtualised list, live), the live
// device cards of a small fleet, system health, open alerts, key figures.
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { dashboardQuery, FLEET_PAGE_SIZE, fleetFilters, fleetQuery, type FleetFilters } from "../api/queries";
import { DeadLetterSummary } from "../components/DeadLetterSummary";
import { DeviceCard } from "../components/DeviceCard";
import { FleetOverview, NO_FILTERS } from "../components/Fleet";
import { countBySeverity, SeverityCounts } from "../components/SeverityCounts";
import { watchDevice, watchFleet } from "../live/socket";
import { fleetLive, live, seedLive } from "../state/app";
import { sortAlerts } from "../state/live";
import { useStore } from "../state/store";
import { formatDuration, formatTime, titleCase } from "../util/format";

const DASHBOARD_REFRESH_MS = 30_000;
const SPARKLINE_MINUTES = 10;
/** Up to this many devices, each also has a live card with its gauge and sparkline (one subscription each). */
export const CARDS_UP_TO = 12;

/** The fleet filters, kept in the address so a view can be shared. */
function useFleetFilters(): [FleetFilters, (filters: FleetFilters) => void] {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => fleetFilters(params), [params]);
  const change = useCallback(
    (next: FleetFilters) =>
      setParams(Object.fromEntries(Object.entries(next).filter(([, value]) => value)), { replace: true }),
    [setParams],
  );
  return [filters, change];
}

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
  const [filters, setFilters] = useFleetFilters();
  // The whole fleet's counts, shared with the list's first page when no filter is set.
  const fleet = useQuery({ ...fleetQuery(NO_FILTERS, 0, FLEET_PAGE_SIZE), refetchInterval: DASHBOARD_REFRESH_MS });
  const heardTotals = useStore(fleetLive, (s) => s.totals);
  const totals = heardTotals ?? fleet.data?.totals;
  const small = totals !== undefined && totals.total <= CARDS_UP_TO;
  const devices = useMemo(
    () => (small ? Object.values(devicesById).sort((a, b) => a.deviceId.localeCompare(b.deviceId)) : []),
    [devicesById, small],
  );
  const alerts = useMemo(() => sortAlerts(Object.values(alertsById)), [alertsById]);
  const deviceKey = devices.map((d) => d.deviceId).join(",");

  useEffect(() => watchFleet(), []); // the fleet's states, live, while the overview is shown
  useEffect(() => {
    if (!deviceKey) return;
    const ids = deviceKey.split(",");
    // The sparklines start from the last minutes of history (a small fleet only: CARDS_UP_TO requests at most).
    ids.forEach((deviceId) => seedLive(deviceId, SPARKLINE_MINUTES * 60_000).catch(() => undefined));
    const stops = ids.map((deviceId) => watchDevice(deviceId));
    return () => stops.forEach((stop) => stop());
  }, [deviceKey]);

  return (
    <div className="overview">
      <h1 className="visually-hidden">Overview</h1>
      <section className="kpis card" aria-label="Key figures">
        <Kpi
          label="readings / min"
          value={dashboard?.readings.perMinute ?? "—"}
          hint="Readings stored in the last minute"
        />
        <Kpi
          label="devices online"
          value={totals ? `${totals.total - totals.offline} / ${totals.total}` : "—"}
          hint="Heard from within their offline timeout"
        />
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

      {devices.length > 0 && (
        <section className="device-grid" aria-label="Device cards">
          {devices.map((device) => (
            <DeviceCard key={device.deviceId} device={device} points={series[device.deviceId] ?? []} />
          ))}
        </section>
      )}

      <FleetOverview filters={filters} onFilters={setFilters} />

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
