// The dashboard's live state and the pure functions that change it.
import {
  SEVERITIES_DOWN,
  type Alert,
  type AlertEvent,
  type Device,
  type SensorData,
  type SystemStatus,
} from "../api/types";

export const LIVE_POINTS = 600; // per device: ten minutes of the fastest sensor, a bounded buffer

export interface Point {
  t: number; // epoch ms
  v: number;
}

export type Connection = "connecting" | "online" | "offline" | "refused";

export interface LiveState {
  devices: Record<string, Device>;
  series: Record<string, Point[]>;
  alerts: Record<string, Alert>; // the open ones
  lastSequence: number | null; // of the last alert change heard, for replay after a reconnect
  connection: Connection;
  reachable: boolean; // did the last REST request reach the service
  loginRequired: boolean; // the service refused to answer without a login (IOTMON_ANONYMOUS_READ=false)
  system: SystemStatus | null;
}

export const initialLive: LiveState = {
  devices: {},
  series: {},
  alerts: {},
  lastSequence: null,
  connection: "connecting",
  reachable: true,
  loginRequired: false,
  system: null,
};

export function setDevices(state: LiveState, devices: Device[]): LiveState {
  return { ...state, devices: Object.fromEntries(devices.map((device) => [device.deviceId, device])) };
}

/** Append a point keeping time order and at most `limit` points; a repeated timestamp is a redelivery. */
export function appendPoint(points: Point[], point: Point, limit = LIVE_POINTS): Point[] {
  const last = points[points.length - 1];
  if (last && point.t <= last.t) {
    if (points.some((p) => p.t === point.t)) return points;
    const merged = [...points, point].sort((a, b) => a.t - b.t);
    return merged.slice(-limit);
  }
  const next = points.length >= limit ? points.slice(points.length - limit + 1) : points.slice();
  next.push(point);
  return next;
}

export function applySensorData(state: LiveState, event: SensorData): LiveState {
  const t = Date.parse(event.timestamp);
  const value = event.data?.value;
  if (!Number.isFinite(t) || typeof value !== "number") return state;
  const device = state.devices[event.deviceId];
  const series = {
    ...state.series,
    [event.deviceId]: appendPoint(state.series[event.deviceId] ?? [], { t, v: value }),
  };
  if (!device) return { ...state, series };
  const newer = !device.lastReading || t >= Date.parse(device.lastReading.timestamp);
  const updated: Device = newer
    ? {
        ...device,
        status: device.status === "offline" ? "active" : device.status,
        lastReading: { value, timestamp: event.timestamp, status: event.data.status },
        stats: { ...device.stats, trend: event.stats?.trend ?? device.stats.trend },
      }
    : device;
  return { ...state, series, devices: { ...state.devices, [event.deviceId]: updated } };
}

/** Seed the live buffers from history (the device page and the overview's sparklines start filled). */
export function seedSeries(state: LiveState, deviceId: string, points: Point[]): LiveState {
  let merged = state.series[deviceId] ?? [];
  for (const point of points) merged = appendPoint(merged, point);
  return { ...state, series: { ...state.series, [deviceId]: merged } };
}

export function setOpenAlerts(state: LiveState, alerts: Alert[]): LiveState {
  return { ...state, alerts: Object.fromEntries(alerts.filter((a) => a.status !== "resolved").map((a) => [a.id, a])) };
}

/** An alert change from Socket.IO (live or replayed) applied to the open alerts. */
export function applyAlertEvent(state: LiveState, event: AlertEvent, resolved: boolean): LiveState {
  const lastSequence = event.sequence !== null ? Math.max(state.lastSequence ?? 0, event.sequence) : state.lastSequence;
  const alerts = { ...state.alerts };
  const status = resolved ? "resolved" : (event.status ?? "triggered");
  if (status === "resolved") {
    delete alerts[event.alertId];
  } else {
    const known = alerts[event.alertId];
    alerts[event.alertId] = {
      id: event.alertId,
      deviceId: event.deviceId,
      type: event.type,
      message: event.message,
      severity: event.severity,
      value: event.value,
      threshold: event.threshold,
      status,
      triggeredAt: known?.triggeredAt ?? event.timestamp,
      acknowledgedAt:
        status === "acknowledged" ? (known?.acknowledgedAt ?? event.timestamp) : (known?.acknowledgedAt ?? null),
      acknowledgedBy:
        status === "acknowledged" ? (event.actor ?? known?.acknowledgedBy ?? null) : (known?.acknowledgedBy ?? null),
      escalatedAt: status === "escalated" ? (known?.escalatedAt ?? event.timestamp) : (known?.escalatedAt ?? null),
      resolvedAt: null,
      resolvedBy: null,
      details: event.details,
    };
  }
  const devices = { ...state.devices };
  const device = devices[event.deviceId];
  if (device)
    devices[event.deviceId] = { ...device, alertStatus: worstSeverity(Object.values(alerts), event.deviceId) };
  return { ...state, alerts, lastSequence, devices };
}

export function applyDeviceStatus(state: LiveState, deviceId: string, online: boolean): LiveState {
  const device = state.devices[deviceId];
  if (!device) return state;
  return { ...state, devices: { ...state.devices, [deviceId]: { ...device, status: online ? "active" : "offline" } } };
}

/** The worst open severity of a device, or "normal". */
export function worstSeverity(alerts: Alert[], deviceId: string): Device["alertStatus"] {
  const severities = new Set(alerts.filter((a) => a.deviceId === deviceId).map((a) => a.severity));
  return SEVERITIES_DOWN.find((s) => severities.has(s)) ?? "normal";
}

export function sortAlerts(alerts: Alert[]): Alert[] {
  const rank = (a: Alert) => SEVERITIES_DOWN.indexOf(a.severity);
  return [...alerts].sort((a, b) => rank(a) - rank(b) || b.triggeredAt.localeCompare(a.triggeredAt));
}
