// Shared test data.
import type { Alert, AlertEvent, Device, SensorData, Session } from "./api/types";

export const device = (id = "device-001"): Device => ({
  deviceId: id,
  name: "Temperature sensor #1",
  type: "temperature",
  location: "assembly-line-1",
  unit: "celsius",
  status: "active",
  lastReading: { value: 50, timestamp: "2026-11-30T10:00:00.000Z" },
  alertStatus: "normal",
  stats: { avg24h: 50, trend: "stable" },
  config: {
    normalMin: 20,
    normalMax: 80,
    alertMin: 15,
    alertMax: 85,
    updatePeriodMs: 2000,
    offlineTimeoutS: 30,
    anomalySensitivity: 4,
    trendHorizonS: 900,
    trendWindowS: null,
    breachCount: 1,
    breachForS: 0,
    clearAfterS: 30,
    hysteresisPct: 2,
    physicalMin: null,
    physicalMax: null,
  },
});

/** An open alert, as GET /api/alerts lists it. */
export const alert = (changes: Partial<Alert> = {}): Alert => ({
  id: "alert-001",
  deviceId: "device-002",
  type: "threshold_exceeded",
  message: "above threshold",
  severity: "high",
  value: 58.5,
  threshold: 55,
  status: "triggered",
  triggeredAt: "2026-11-30T10:05:00.000Z",
  acknowledgedAt: null,
  resolvedAt: null,
  escalatedAt: null,
  acknowledgedBy: null,
  resolvedBy: null,
  details: {},
  ...changes,
});

/** An alert change as Socket.IO delivers it. */
export const alertEvent = (changes: Partial<AlertEvent> = {}): AlertEvent => ({
  alertId: "alert-007",
  deviceId: "device-001",
  type: "threshold_exceeded",
  severity: "high",
  status: "triggered",
  action: "triggered",
  message: "too hot",
  timestamp: "2026-11-30T10:00:00.000Z",
  value: 90,
  threshold: 85,
  triggeredAt: "2026-11-30T10:00:00.000Z",
  actor: "system",
  note: null,
  details: {},
  sequence: null,
  ...changes,
});

/** A reading as `sensor-data` delivers it. */
export const sensorData = (value: number, timestamp: string, deviceId = "device-001"): SensorData => ({
  deviceId,
  timestamp,
  data: { value, unit: "celsius", status: "normal" },
  stats: { avg: 55, trend: "increasing", min: 40, max: 70 },
});

/** An operator's login. */
export const operatorSession: Session = {
  token: "t",
  tokenType: "Bearer",
  username: "olga",
  role: "operator",
  expiresAt: "2999-01-01T00:00:00Z",
  refreshToken: "r",
  sessionExpiresAt: "2999-01-01T00:00:00Z",
};
