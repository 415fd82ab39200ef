// Analytics (`/analytics`): the devices' trends, hourly heatmap and comparison (one request for all devices,
// the nearest to an alert limit first), system utilisation.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { Data, Layout } from "plotly.js";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { fleetAnalyticsQuery, summaryQuery, systemMetricsQuery, type FleetFilters } from "../api/queries";
import type { FleetTrend, Summary } from "../api/types";
import { ChartCard } from "../components/ChartCard";
import { CsvButton } from "../components/CsvButton";
import { Notice } from "../components/Notice";
import { formatCount, formatDuration, formatValue, TREND_ARROWS, titleCase } from "../util/format";
import { percentOfNormal } from "./heatmap";

const SYSTEM_REFRESH_MS = 30_000;
const ANALYTICS_REFRESH_MS = 60_000;
const LIMITS = [20, 50, 200]; // devices shown, the nearest to an alert limit first
const COMPARED = 10; // lines on the comparison chart: more is unreadable
const STACKED = 10; // devices with their own bar on the readings chart; the rest are summed

const hourLabel = (iso: string) =>
  new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function TrendsTable({ devices }: { devices: FleetTrend[] }) {
  return (
    <section className="card" aria-label="Trends across devices">
      <header className="card-header">
        <h2>Trends across devices (24 h)</h2>
        <CsvButton
          title="Trends across devices"
          name="trends"
          table={() => ({
            header: [
              "deviceId",
              "unit",
              "mean",
              "min",
              "max",
              "trend",
              "slopePerHour",
              "forecast60min",
              "secondsToThreshold",
            ],
            rows: devices.map((d) => [
              d.deviceId,
              d.unit,
              d.avg,
              d.min,
              d.max,
              d.trend,
              d.slopePerHour,
              d.forecast60,
              d.timeToThreshold?.seconds,
            ]),
          })}
        />
      </header>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Mean</th>
              <th scope="col">Min – max</th>
              <th scope="col">Trend</th>
              <th scope="col">Per hour</th>
              <th scope="col">In 60 min</th>
              <th scope="col">Time to threshold</th>
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <tr key={d.deviceId}>
                <th scope="row">
                  <Link to={`/devices/${encodeURIComponent(d.deviceId)}`}>{d.deviceId}</Link>{" "}
                  <span className="muted small">
                    {d.type} · {d.location}
                  </span>
                </th>
                <td>{formatValue(d.avg, d.unit, 2)}</td>
                <td>
                  {formatValue(d.min, null, 2)} – {formatValue(d.max, d.unit, 2)}
                </td>
                <td>{d.trend ? `${TREND_ARROWS[d.trend]} ${d.trend}` : "—"}</td>
                <td>{formatValue(d.slopePerHour, d.unit, 3)}</td>
                <td>{formatValue(d.forecast60, d.unit, 2)}</td>
                <td>{d.timeToThreshold ? formatDuration(d.timeToThreshold.seconds) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Heatmap({ devices, hours }: { devices: FleetTrend[]; hours: string[] }) {
  const data = useMemo<Data[]>(
    () => [
      {
        type: "heatmap",
        x: hours.map(hourLabel),
        y: devices.map((d) => d.deviceId),
        z: devices.map((d) => d.hourly.map((v) => percentOfNormal(v, d))),
        text: devices.map((d) => d.hourly.map((v) => formatValue(v, d.unit, 2))) as unknown as string[],
        hovertemplate: "%{y} at %{x}<br>mean %{text}<br>%{z:.0f}% of the normal range<extra></extra>",
        colorscale: [
          [0, "#3e8ef7"],
          [0.25, "#30a46c"],
          [0.5, "#30a46c"],
          [0.75, "#30a46c"],
          [1, "#e5484d"],
        ],
        zmin: -50,
        zmax: 150,
        colorbar: { title: { text: "% of normal" }, thickness: 12 },
      } as Data,
    ],
    [devices, hours],
  );
  const layout = useMemo<Partial<Layout>>(
    () => ({ margin: { l: 90, r: 16, t: 12, b: 48 }, xaxis: { type: "category", tickangle: -45 } }),
    [],
  );
  return (
    <ChartCard
      title="Hourly means (device × hour)"
      name="hourly-means"
      data={data}
      layout={layout}
      height={Math.max(300, Math.min(1200, 60 + devices.length * 14))}
      csv={() => ({
        header: ["deviceId", ...hours],
        rows: devices.map((d) => [d.deviceId, ...d.hourly.map((v) => (v === null ? null : Number(v.toFixed(4))))]),
      })}
      footer={
        <p className="muted small">
          Colour: the hour's mean as a share of the device's normal range (0 % at its lower end, 100 % at its upper
          end).
        </p>
      }
    />
  );
}

function Comparison({ devices, hours }: { devices: FleetTrend[]; hours: string[] }) {
  const shown = useMemo(() => devices.slice(0, COMPARED), [devices]);
  const data = useMemo<Data[]>(
    () =>
      shown.map((d) => ({
        x: hours,
        y: d.hourly.map((v) => percentOfNormal(v, d)),
        type: "scatter",
        mode: "lines",
        connectgaps: false,
        name: d.deviceId,
      })),
    [shown, hours],
  );
  const layout = useMemo<Partial<Layout>>(
    () => ({
      xaxis: { type: "date" },
      yaxis: { title: { text: "% of normal range" } },
      shapes: [0, 100].map((y) => ({
        type: "line",
        xref: "paper",
        x0: 0,
        x1: 1,
        y0: y,
        y1: y,
        line: { color: "#30a46c", width: 1, dash: "dot" },
      })),
    }),
    [],
  );
  return (
    <ChartCard
      title={`Devices compared (hourly means, the first ${shown.length})`}
      name="devices-compared"
      data={data}
      layout={layout}
      height={320}
      csv={() => ({
        header: ["deviceId", "hour", "mean", "percentOfNormal"],
        rows: shown.flatMap((d) => d.hourly.map((v, i) => [d.deviceId, hours[i], v, percentOfNormal(v, d)])),
      })}
    />
  );
}

/** Readings per day: the devices with the most their own bar, the others summed in one. */
export function readingsPerDay(summary: Summary | undefined): Data[] {
  const devices = [...(summary?.devices ?? [])];
  const total = (d: Summary["devices"][number]) => d.days.reduce((sum, day) => sum + day.readings, 0);
  devices.sort((a, b) => total(b) - total(a));
  const traces: Data[] = devices.slice(0, STACKED).map((d) => ({
    x: d.days.map((day) => day.date),
    y: d.days.map((day) => day.readings),
    type: "bar",
    name: d.deviceId,
  }));
  const rest = devices.slice(STACKED);
  if (rest.length) {
    const byDate = new Map<string, number>();
    for (const d of rest) for (const day of d.days) byDate.set(day.date, (byDate.get(day.date) ?? 0) + day.readings);
    const dates = [...byDate.keys()].sort();
    traces.push({
      x: dates,
      y: dates.map((date) => byDate.get(date) ?? 0),
      type: "bar",
      name: `${rest.length} others`,
    });
  }
  return traces;
}

function Utilisation() {
  const system = useQuery({ ...systemMetricsQuery(), refetchInterval: SYSTEM_REFRESH_MS });
  const summary = useQuery(summaryQuery());
  const data = useMemo<Data[]>(() => readingsPerDay(summary.data), [summary.data]);
  const layout = useMemo<Partial<Layout>>(
    () => ({ barmode: "stack", xaxis: { type: "category" }, yaxis: { title: { text: "readings" } } }),
    [],
  );
  const s = system.data;
  return (
    <>
      <section className="kpis card" aria-label="System utilisation">
        <Notice error={system.error} />
        {s && (
          <>
            <div className="kpi">
              <span className="kpi-value">{s.process.requestsPerMinute}</span>
              <span className="kpi-label">API requests / min</span>
            </div>
            <div className="kpi">
              <span className="kpi-value">{(s.process.errorRate * 100).toFixed(1)} %</span>
              <span className="kpi-label">API errors</span>
            </div>
            <div className="kpi">
              <span className="kpi-value">{(s.database.sizeBytes / 1048576).toFixed(1)} MiB</span>
              <span className="kpi-label">database, {s.database.connections} connections</span>
            </div>
            {"error" in s.redis ? (
              <div className="kpi" title={s.redis.error}>
                <span className="kpi-value">—</span>
                <span className="kpi-label">Redis unavailable</span>
              </div>
            ) : (
              <div className="kpi">
                <span className="kpi-value">{s.redis.usedMemoryHuman ?? "—"}</span>
                <span className="kpi-label">Redis, {formatCount(s.redis.keys)} keys</span>
              </div>
            )}
            <div className="kpi" title={s.metrics ? undefined : "Not yet written by the aggregate function"}>
              <span className="kpi-value">{formatCount(s.metrics?.dataPointsLastHour)}</span>
              <span className="kpi-label">readings, last hour</span>
            </div>
            <div className="kpi">
              <span className="kpi-value">{formatDuration(s.process.uptimeSeconds)}</span>
              <span className="kpi-label">uptime ({s.process.transport})</span>
            </div>
          </>
        )}
      </section>
      <ChartCard
        title="Readings stored per day"
        name="readings-per-day"
        data={data}
        layout={layout}
        height={260}
        csv={() => ({
          header: ["deviceId", "date", "readings", "alerts"],
          rows: (summary.data?.devices ?? []).flatMap((d) =>
            d.days.map((day) => [d.deviceId, day.date, day.readings, day.alertsTotal]),
          ),
        })}
      />
    </>
  );
}

export function AnalyticsView() {
  const [filters, setFilters] = useState<FleetFilters>({ q: "", status: "", type: "", location: "" });
  const [limit, setLimit] = useState(50);
  const found = useQuery({
    ...fleetAnalyticsQuery(filters, limit),
    placeholderData: keepPreviousData,
    refetchInterval: ANALYTICS_REFRESH_MS,
  });
  const devices = found.data?.devices;
  const hours = found.data?.hours ?? [];
  const types = useMemo(() => [...new Set(devices?.map((d) => d.type))].sort(), [devices]);

  return (
    <div className="analytics-view">
      <h1>Analytics</h1>
      <form className="filters card" aria-label="Devices analysed" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            name="q"
            value={filters.q}
            maxLength={100}
            placeholder="id, name, type or location"
            onChange={(e) => setFilters({ ...filters, q: e.target.value })}
          />
        </label>
        <label>
          Type
          <select name="type" value={filters.type} onChange={(e) => setFilters({ ...filters, type: e.target.value })}>
            <option value="">Any</option>
            {types.map((type) => (
              <option key={type} value={type}>
                {titleCase(type)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Devices
          <select name="limit" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
            {LIMITS.map((n) => (
              <option key={n} value={n}>
                {n} nearest to a limit
              </option>
            ))}
          </select>
        </label>
        <p className="muted small">
          {found.data
            ? `${found.data.devices.length} of ${found.data.matched} devices, the nearest to a limit first`
            : ""}
        </p>
      </form>
      <Notice loading={found.isPending} error={found.error} />
      {devices && (
        <>
          <TrendsTable devices={devices} />
          <Heatmap devices={devices} hours={hours} />
          <Comparison devices={devices} hours={hours} />
        </>
      )}
      <Utilisation />
    </div>
  );
}
