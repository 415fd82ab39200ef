import { Link } from "react-router-dom";
import type { Device } from "../api/types";
import type { Point } from "../state/live";
import { formatAgo, formatTime, formatValue, TREND_ARROWS, titleCase, unitLabel } from "../util/format";
import { Bullet, zone } from "./Bullet";
import { Sparkline } from "./Sparkline";

export function DeviceCard({ device, points }: { device: Device; points: Point[] }) {
  const value = device.lastReading?.value ?? null;
  const trend = device.stats.trend ?? "stable";
  const offline = device.status === "offline";
  const alerting = device.alertStatus !== "normal";
  return (
    <article
      className={`card device-card ${offline ? "is-offline" : ""} ${alerting ? `sev-${device.alertStatus}` : ""}`}
      data-device={device.deviceId}
    >
      <header className="device-head">
        <div>
          <h2>
            <Link to={`/devices/${device.deviceId}`}>{device.name ?? device.deviceId}</Link>
          </h2>
          <p className="muted">
            {device.deviceId} · {titleCase(device.type)} · {device.location}
          </p>
        </div>
        <span className={`pill ${offline ? "offline" : alerting ? device.alertStatus : "ok"}`}>
          {offline ? "Offline" : alerting ? `${titleCase(device.alertStatus)} alert` : titleCase(device.status)}
        </span>
      </header>
      <div className="device-value">
        <span className={`value zone-${zone(device.config, value)}`} data-testid="device-value">
          {formatValue(value, null, 2)} <span className="unit">{unitLabel(device.unit)}</span>
        </span>
        <span className={`trend trend-${trend}`} title={`Trend: ${trend}`} aria-label={`trend ${trend}`}>
          {TREND_ARROWS[trend] ?? "→"}
        </span>
      </div>
      <Bullet config={device.config} value={value} unit={device.unit} />
      <Sparkline points={points} label={`Recent readings of ${device.deviceId}`} />
      <p className="muted small">
        {device.lastReading
          ? `Updated ${formatTime(device.lastReading.timestamp)} (${formatAgo(device.lastReading.timestamp)})`
          : "No readings yet"}{" "}
        · 24 h avg {formatValue(device.stats.avg24h, device.unit)}
      </p>
    </article>
  );
}
