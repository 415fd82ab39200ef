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
export const ALERTS_REMEMBERED = 1000; // alerts whose last applied change is kept, to drop repeats of it

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
  alertSequences: Record<string, number>; // per alert, the sequence of the last change applied
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
  alertSequences: {},
  connection: "connecting",
  reachable: true,
  loginRequired: false,
  system: null,
};

export function setDevices(state: LiveState, devices: Device[]): LiveState {
  return { ...state, devices: Object.fromEntries(devices.map((device) => [device.deviceId, device])) };
}

/** Add a device the store does not have yet (one beyond the first page), so that its readings update it. */
export function addDevice(state: LiveState, device: Device): LiveState {
  return state.devices[device.deviceId]
    ? state
    : { ...state, devices: { ...state.devices, [device.deviceId]: device } };
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

/**
 * Whether an alert change is news. The same change can come twice (live and in the replay after the service
 * lost Redis, or sent again by a retry), and a replayed one after a newer change of its alert: both are dropped.
 */
export function isNewAlertChange(state: LiveState, event: AlertEvent): boolean {
  const last = state.alertSequences[event.alertId];
  return typeof event.sequence !== "number" || last === undefined || event.sequence > last;
}

function rememberSequence(sequences: Record<string, number>, event: AlertEvent): Record<string, number> {
  if (typeof event.sequence !== "number") return sequences;
  const next = { ...sequences, [event.alertId]: event.sequence };
  const ids = Object.keys(next);
  if (ids.length > ALERTS_REMEMBERED) {
    ids.sort((a, b) => next[a] - next[b]);
    for (const id of ids.slice(0, ids.length - ALERTS_REMEMBERED)) delete next[id];
  }
  return next;
}

/** An alert change from Socket.IO (live or replayed) applied to the open alerts; one already applied is ignored. */
export function applyAlertEvent(state: LiveState, event: AlertEvent, resolved: boolean): LiveState {
  if (!isNewAlertChange(state, event)) return state;
  const alertSequences = rememberSequence(state.alertSequences, event);
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
  return { ...state, alerts, lastSequence, alertSequences, devices };
}

export function applyDeviceStatus(state: LiveState, deviceId: string, online: boolean): LiveState {
  const device = state.devices[deviceId];
  const status = online ? "active" : "offline";
  if (!device || device.status === status) return state; // unknown, or a repeat
  return { ...state, devices: { ...state.devices, [deviceId]: { ...device, status } } };
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
