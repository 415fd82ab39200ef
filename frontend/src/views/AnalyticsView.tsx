// Analytics (`/analytics`): trends across devices, hourly heatmap, comparison, system utilisation.
import { useQueries, useQuery, type UseQueryResult } from "@tanstack/react-query";
import type { Data, Layout } from "plotly.js";
import { useMemo } from "react";
import { Link } from "react-router-dom";
import { devicesQuery, recentHistoryQuery, summaryQuery, systemMetricsQuery, trendQuery } from "../api/queries";
import type { Device, HistoryPage, TrendAnalysis } from "../api/types";
import { ChartCard } from "../components/ChartCard";
import { CsvButton } from "../components/CsvButton";
import { Notice } from "../components/Notice";
import { formatCount, formatDuration, formatValue, TREND_ARROWS } from "../util/format";
import { hourlyMeans, lastHours, percentOfNormal } from "./heatmap";

const HOURS = 24;
const SYSTEM_REFRESH_MS = 30_000;

interface DeviceDay {
  device: Device;
  readings: HistoryPage["readings"];
  trend: TrendAnalysis | null;
}

// Module-level, so that TanStack Query memoizes their results (inline ones would run on every render).
const byDeviceId = (devices: Device[]) => [...devices].sort((a, b) => a.deviceId.localeCompare(b.deviceId));

/** Every history once all are there (the charts draw all devices or none), and the first error. */
function allHistories(results: UseQueryResult<HistoryPage>[]) {
  const complete = results.every((r) => r.data !== undefined);
  return {
    data: complete ? results.map((r) => r.data as HistoryPage) : undefined,
    pending: results.some((r) => r.isPending),
    error: results.find((r) => r.error)?.error ?? null,
  };
}

/** Each device's trend, or null where it failed or is still loading (the table shows — for it). */
const trendsOrNull = (results: UseQueryResult<TrendAnalysis>[]) => results.map((r) => r.data ?? null);

function TrendsTable({ days }: { days: DeviceDay[] }) {
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
            rows: days.map(({ device, trend }) => [
              device.deviceId,
              device.unit,
              trend?.avg,
              trend?.min,
              trend?.max,
              trend?.trend,
              trend?.slopePerHour,
              trend?.forecast.find((f) => f.minutes === 60)?.value,
              trend?.timeToThreshold?.seconds,
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
            {days.map(({ device, trend }) => (
              <tr key={device.deviceId}>
                <th scope="row">
                  <Link to={`/devices/${device.deviceId}`}>{device.deviceId}</Link>{" "}
                  <span className="muted small">{device.type}</span>
                </th>
                <td>{formatValue(trend?.avg, device.unit, 2)}</td>
                <td>
                  {formatValue(trend?.min, null, 2)} – {formatValue(trend?.max, device.unit, 2)}
                </td>
                <td>{trend?.trend ? `${TREND_ARROWS[trend.trend]} ${trend.trend}` : "—"}</td>
                <td>{formatValue(trend?.slopePerHour, device.unit, 3)}</td>
                <td>{formatValue(trend?.forecast.find((f) => f.minutes === 60)?.value, device.unit, 2)}</td>
                <td>{trend?.timeToThreshold ? formatDuration(trend.timeToThreshold.seconds) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Heatmap({ days }: { days: DeviceDay[] }) {
  const hours = useMemo(() => lastHours(HOURS), []);
  const means = useMemo(() => days.map(({ readings }) => hourlyMeans(readings, hours)), [days, hours]);
  const data = useMemo<Data[]>(
    () => [
      {
        type: "heatmap",
        x: hours.map((h) =>
          new Date(h).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
        ),
        y: days.map((d) => d.device.deviceId),
        z: days.map(({ device }, i) => means[i].map((v) => percentOfNormal(v, device.config))),
        text: days.map(({ device }, i) => means[i].map((v) => formatValue(v, device.unit, 2))) as unknown as string[],
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
    [days, means, hours],
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
      height={300}
      csv={() => ({
        header: ["deviceId", ...hours.map((h) => new Date(h).toISOString())],
        rows: days.map(({ device }, i) => [
          device.deviceId,
          ...means[i].map((v) => (v === null ? null : Number(v.toFixed(4)))),
        ]),
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

function Comparison({ days }: { days: DeviceDay[] }) {
  const data = useMemo<Data[]>(
    () =>
      days.map(({ device, readings }) => ({
        x: readings.map((r) => r.timestamp),
        y: readings.map((r) => percentOfNormal(r.value, device.config)),
        type: "scatter",
        mode: "lines",
        name: device.deviceId,
      })),
    [days],
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
      title="Devices compared (5-minute means)"
      name="devices-compared"
      data={data}
      layout={layout}
      height={320}
      csv={() => ({
        header: ["deviceId", "timestamp", "mean", "percentOfNormal"],
        rows: days.flatMap(({ device, readings }) =>
          readings.map((r) => [device.deviceId, r.timestamp, r.value, percentOfNormal(r.value, device.config)]),
        ),
      })}
    />
  );
}

function Utilisation() {
  const system = useQuery({ ...systemMetricsQuery(), refetchInterval: SYSTEM_REFRESH_MS });
  const summary = useQuery(summaryQuery());
  const data = useMemo<Data[]>(
    () =>
      (summary.data?.devices ?? []).map((d) => ({
        x: d.days.map((day) => day.date),
        y: d.days.map((day) => day.readings),
        type: "bar",
        name: d.deviceId,
      })),
    [summary.data],
  );
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
  const devices = useQuery({ ...devicesQuery(), select: byDeviceId });
  const ids = devices.data?.map((d) => d.deviceId) ?? [];
  const histories = useQueries({
    queries: ids.map((id) => recentHistoryQuery(id, HOURS, "5m")),
    combine: allHistories,
  });
  const trends = useQueries({ queries: ids.map((id) => trendQuery(id)), combine: trendsOrNull });
  const days = useMemo<DeviceDay[] | undefined>(() => {
    const [list, pages] = [devices.data, histories.data];
    return list && pages && list.map((device, i) => ({ device, readings: pages[i].readings, trend: trends[i] }));
  }, [devices.data, histories.data, trends]);

  return (
    <div className="analytics-view">
      <h1>Analytics</h1>
      <Notice loading={devices.isPending || histories.pending} error={devices.error ?? histories.error} />
      {days && (
        <>
          <TrendsTable days={days} />
          <Heatmap days={days} />
          <Comparison days={days} />
        </>
      )}
      <Utilisation />
    </div>
  );
}
