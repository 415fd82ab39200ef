// Device details (`/devices/:id`): live and historical charts, statistics, trend and forecast, configuration, alerts.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { Data, Layout } from "plotly.js";
import { useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { alertHistoryQuery, deviceQuery, historyQuery, trendQuery } from "../api/queries";
import type { Backtest, Device, HistoryPoint, WindowStats } from "../api/types";
import { AlertsTable } from "../components/AlertsTable";
import { ChartCard } from "../components/ChartCard";
import { ConfigEditor } from "../components/ConfigEditor";
import { CsvButton } from "../components/CsvButton";
import { Notice } from "../components/Notice";
import { loadPlotly } from "../components/Plot";
import { watchDevice } from "../live/socket";
import { live, seedLive } from "../state/app";
import { addDevice, type Point } from "../state/live";
import { useStore } from "../state/store";
import { formatDuration, formatTime, formatValue, TREND_ARROWS, titleCase, unitLabel } from "../util/format";

const LIVE_WINDOW_MS = 5 * 60_000;
const STATS_REFRESH_MS = 60_000; // the 1 h / 24 h statistics move slowly
const TREND_REFRESH_MS = 10 * 60_000; // a fit over 24 h barely moves in ten minutes
const ALERT_HISTORY_LIMIT = 100;
// Stable empty lists: a new [] at every render would recompute the charts' memos each time.
const NO_POINTS: Point[] = [];
const NO_READINGS: HistoryPoint[] = [];
const PRESETS = { "1h": 3600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 } as const;
type Preset = keyof typeof PRESETS;

interface Range {
  from: string;
  to: string;
}

const presetRange = (preset: Preset): Range => ({
  from: new Date(Date.now() - PRESETS[preset]).toISOString(),
  to: new Date().toISOString(),
});

/** Threshold lines for a chart of the device's values. */
function limitShapes(device: Device): Partial<Layout>["shapes"] {
  const { config } = device;
  const line = (y: number | null, color: string, dash: "dash" | "dot") =>
    y === null
      ? []
      : [
          {
            type: "line" as const,
            xref: "paper" as const,
            x0: 0,
            x1: 1,
            y0: y,
            y1: y,
            line: { color, width: 1, dash },
          },
        ];
  return [
    ...line(config.alertMin, "#e5484d", "dash"),
    ...line(config.alertMax, "#e5484d", "dash"),
    ...line(config.normalMin, "#30a46c", "dot"),
    ...line(config.normalMax, "#30a46c", "dot"),
  ];
}

function LiveChart({ device }: { device: Device }) {
  const points = useStore(live, (s) => s.series[device.deviceId]) ?? NO_POINTS;
  useEffect(() => watchDevice(device.deviceId), [device.deviceId]); // its readings, live, while it is shown
  useEffect(() => {
    seedLive(device.deviceId, LIVE_WINDOW_MS).catch(() => undefined);
  }, [device.deviceId]);

  const data = useMemo<Data[]>(
    () => [
      {
        x: points.map((p) => new Date(p.t)),
        y: points.map((p) => p.v),
        type: "scatter",
        mode: "lines",
        name: device.deviceId,
        line: { color: "#3e8ef7", width: 2 },
      },
    ],
    [points, device.deviceId],
  );
  const last = points[points.length - 1]?.t;
  const layout = useMemo<Partial<Layout>>(
    () => ({
      // The window ends at the newest reading; with none yet Plotly picks the range itself.
      xaxis: {
        type: "date",
        range: last === undefined ? undefined : [new Date(last - LIVE_WINDOW_MS), new Date(last)],
      },
      yaxis: { title: { text: unitLabel(device.unit) } },
      shapes: limitShapes(device),
      showlegend: false,
      uirevision: device.deviceId,
    }),
    [last, device],
  );
  return (
    <ChartCard
      title="Live (last 5 minutes)"
      name={`${device.deviceId}-live`}
      data={data}
      layout={layout}
      config={{ scrollZoom: false }}
      csv={() => ({ header: ["timestamp", "value"], rows: points.map((p) => [new Date(p.t).toISOString(), p.v]) })}
    />
  );
}

/** The alerts a tried configuration would have raised, as markers at their readings. */
function previewMarkers(preview: Backtest): Data {
  return {
    x: preview.alerts.map((a) => a.triggeredAt),
    y: preview.alerts.map((a) => a.value),
    text: preview.alerts.map((a) => `${a.type.replaceAll("_", " ")} (${a.severity}): ${a.message}`),
    type: "scatter",
    mode: "markers",
    name: "would have fired",
    marker: { symbol: "x", size: 10, color: "#e5484d" },
    hoverinfo: "text",
  };
}

function HistoryChart({ device, preview }: { device: Device; preview: Backtest | null }) {
  // A tried configuration covers the last 7 days (DeviceView mounts the chart afresh for it): show them.
  const initial: Preset = preview ? "7d" : "1h";
  const [preset, setPreset] = useState<Preset>(initial);
  const [range, setRange] = useState<Range>(() => presetRange(initial));
  // While a zoom or a new preset loads, the chart keeps the readings it has.
  const history = useQuery({
    ...historyQuery(device.deviceId, range.from, range.to),
    placeholderData: keepPreviousData,
  });
  const readings = history.data?.readings ?? NO_READINGS;
  const aggregated = readings.some((r) => r.min !== undefined);

  const curves = useMemo<Data[]>(() => {
    const x = readings.map((r) => r.timestamp);
    const mean: Data = {
      x,
      y: readings.map((r) => r.value),
      type: "scatter",
      mode: "lines",
      name: aggregated ? "mean" : "value",
      line: { color: "#3e8ef7", width: 1.5 },
    };
    if (!aggregated) return [mean];
    const band = (name: string, y: (number | null)[], fill?: "tonexty"): Data => ({
      x,
      y,
      type: "scatter",
      mode: "lines",
      name,
      line: { width: 0 },
      fill,
      fillcolor: "rgba(62,142,247,0.18)",
      hoverinfo: "skip",
      showlegend: false,
    });
    return [
      band(
        "min",
        readings.map((r) => r.min ?? null),
      ),
      band(
        "max",
        readings.map((r) => r.max ?? null),
        "tonexty",
      ),
      mean,
    ];
  }, [readings, aggregated]);
  const data = useMemo(() => (preview ? [...curves, previewMarkers(preview)] : curves), [curves, preview]);

  const layout = useMemo<Partial<Layout>>(
    () => ({
      xaxis: { type: "date", range: [range.from, range.to] },
      yaxis: { title: { text: unitLabel(device.unit) } },
      shapes: limitShapes(device),
      showlegend: false,
      dragmode: "zoom",
    }),
    [range, device],
  );

  // Zoom and pan ask the service again, at the resolution that suits the new range.
  const onRelayout = (event: Record<string, unknown>) => {
    const from = event["xaxis.range[0]"];
    const to = event["xaxis.range[1]"];
    if (typeof from === "string" && typeof to === "string")
      setRange({
        from: new Date(from.replace(" ", "T")).toISOString(),
        to: new Date(to.replace(" ", "T")).toISOString(),
      });
    else if (event["xaxis.autorange"]) setRange(presetRange(preset));
  };
  const choose = (next: Preset) => {
    setPreset(next);
    setRange(presetRange(next));
  };

  return (
    <ChartCard
      title="History"
      name={`${device.deviceId}-history`}
      data={data}
      layout={layout}
      onRelayout={onRelayout}
      actions={
        <div className="segmented" role="group" aria-label="Range">
          {(Object.keys(PRESETS) as Preset[]).map((name) => (
            <button
              key={name}
              type="button"
              className="small"
              aria-pressed={preset === name}
              onClick={() => choose(name)}
            >
              {name}
            </button>
          ))}
        </div>
      }
      footer={
        <Notice
          loading={history.isPending}
          error={history.error}
          empty={!history.isFetching && readings.length === 0 && "No readings in this range."}
        />
      }
      csv={() => ({
        header: aggregated ? ["timestamp", "mean", "min", "max", "count"] : ["timestamp", "value"],
        rows: readings.map((r) =>
          aggregated ? [r.timestamp, r.value, r.min ?? null, r.max ?? null, r.count ?? null] : [r.timestamp, r.value],
        ),
      })}
    />
  );
}

function StatsTable({ device }: { device: Device }) {
  const windows: [string, WindowStats | null | undefined][] = [
    ["1 h", device.stats["1h"]],
    ["24 h", device.stats["24h"]],
  ];
  const cell = (v: number | null | undefined) => formatValue(v, device.unit, 2);
  return (
    <section className="card" aria-label="Statistics">
      <header className="card-header">
        <h2>Statistics</h2>
        <CsvButton
          title="Statistics"
          name={`${device.deviceId}-statistics`}
          table={() => ({
            header: ["window", "mean", "median", "min", "max", "std", "count", "trend"],
            rows: windows.map(([label, s]) => [label, s?.avg, s?.median, s?.min, s?.max, s?.std, s?.count, s?.trend]),
          })}
        />
      </header>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Window</th>
              <th scope="col">Mean</th>
              <th scope="col">Median</th>
              <th scope="col">Min</th>
              <th scope="col">Max</th>
              <th scope="col">Std dev</th>
              <th scope="col">Readings</th>
              <th scope="col">Trend</th>
            </tr>
          </thead>
          <tbody>
            {windows.map(([label, stats]) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td>{cell(stats?.avg)}</td>
                <td>{cell(stats?.median)}</td>
                <td>{cell(stats?.min)}</td>
                <td>{cell(stats?.max)}</td>
                <td>{cell(stats?.std)}</td>
                <td>{stats?.count?.toLocaleString() ?? "—"}</td>
                <td>{stats?.trend ? `${TREND_ARROWS[stats.trend]} ${stats.trend}` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function TrendPanel({ device }: { device: Device }) {
  const trend = useQuery({ ...trendQuery(device.deviceId), refetchInterval: TREND_REFRESH_MS });
  const t = trend.data;
  return (
    <section className="card" aria-label="Trend and forecast">
      <h2>Trend and forecast</h2>
      <Notice loading={trend.isPending} error={trend.error} />
      {t && (
        <dl className="facts">
          <dt>Trend (24 h)</dt>
          <dd>
            {t.trend ? `${TREND_ARROWS[t.trend]} ${t.trend}` : "—"} ({formatValue(t.slopePerHour, device.unit, 3)} per
            hour)
          </dd>
          {t.forecast.map((f) => (
            <div key={f.minutes} className="fact">
              <dt>In {f.minutes} min</dt>
              <dd title="95 % prediction interval">
                {formatValue(f.value, device.unit, 2)} ({formatValue(f.low, null, 2)} to {formatValue(f.high, null, 2)})
              </dd>
            </div>
          ))}
          <dt>Time to threshold</dt>
          <dd data-testid="time-to-threshold">
            {t.timeToThreshold
              ? `${formatDuration(t.timeToThreshold.seconds)} (reaches the ${t.timeToThreshold.threshold === "alertMin" ? "lower" : "upper"} alert limit ${formatValue(t.timeToThreshold.value, device.unit)} at ${formatTime(t.timeToThreshold.at)})`
              : "Not heading for a limit"}
          </dd>
        </dl>
      )}
    </section>
  );
}

export function DeviceView() {
  const { deviceId = "" } = useParams();
  const [preview, setPreview] = useState<Backtest | null>(null);
  const details = useQuery({ ...deviceQuery(deviceId), refetchInterval: STATS_REFRESH_MS });
  useEffect(() => void loadPlotly(), []); // the charts' code loads while their data is fetched, not after
  const liveDevice = useStore(live, (s) => s.devices[deviceId]);
  useEffect(() => {
    if (details.data) live.update((state) => addDevice(state, details.data)); // a device beyond the first page
  }, [details.data]);
  const alertHistory = useQuery(alertHistoryQuery({ deviceId, limit: ALERT_HISTORY_LIMIT }));
  // Live fields (value, status, alert status) over the details (1 h / 24 h statistics).
  const device = useMemo<Device | null>(() => {
    if (!details.data) return liveDevice ?? null;
    return liveDevice
      ? {
          ...details.data,
          ...liveDevice,
          stats: {
            ...details.data.stats,
            ...liveDevice.stats,
            "1h": details.data.stats["1h"],
            "24h": details.data.stats["24h"],
          },
        }
      : details.data;
  }, [details.data, liveDevice]);

  if (!device) {
    return (
      <section className="card">
        <Link to="/">← Overview</Link>
        <Notice loading={details.isPending} error={details.error} />
      </section>
    );
  }
  return (
    // Keyed by device: another device's page starts from its own chart range, not this one's.
    <div className="device-view" key={device.deviceId}>
      <header className="page-head">
        <Link to="/">← Overview</Link>
        <h1>{device.name ?? device.deviceId}</h1>
        <p className="muted">
          {device.deviceId} · {titleCase(device.type)} · {device.location} · {titleCase(device.status)} · now{" "}
          <strong data-testid="device-value">{formatValue(device.lastReading?.value ?? null, device.unit, 2)}</strong>{" "}
          at {formatTime(device.lastReading?.timestamp)}
        </p>
      </header>
      <div className="chart-grid">
        <LiveChart device={device} />
        <HistoryChart key={preview ? "preview" : "history"} device={device} preview={preview} />
      </div>
      <div className="two-columns">
        <StatsTable device={device} />
        <TrendPanel device={device} />
      </div>
      <section className="card" aria-label="Configuration">
        <h2>Configuration</h2>
        <ConfigEditor device={device} onPreview={setPreview} />
      </section>
      <AlertsTable
        title="Alert history"
        name={`${device.deviceId}-alerts`}
        alerts={alertHistory.data?.alerts ?? []}
        showDevice={false}
      />
    </div>
  );
}
