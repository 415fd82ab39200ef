// The REST and Socket.IO shapes of the service as the dashboard uses them (docs/contracts.md).

export type Severity = "critical" | "high" | "medium" | "low";
export type AlertStatus = "triggered" | "acknowledged" | "escalated" | "resolved";
export type Role = "viewer" | "operator" | "admin";
export type Trend = "increasing" | "decreasing" | "stable";

export interface DeviceConfig {
  normalMin: number | null;
  normalMax: number | null;
  alertMin: number | null;
  alertMax: number | null;
  updatePeriodMs: number | null;
  offlineTimeoutS: number;
  anomalySensitivity: number;
  trendHorizonS: number;
  breachCount: number;
  clearAfterS: number;
  hysteresisPct: number;
}

export interface WindowStats {
  avg: number | null;
  min: number | null;
  max: number | null;
  count: number;
  trend: Trend | null;
  std?: number | null;
  median?: number | null;
  slope?: number | null;
}

export interface Device {
  deviceId: string;
  name: string | null;
  type: string;
  location: string;
  unit: string;
  status: string;
  lastReading: { value: number; timestamp: string; status?: string } | null;
  alertStatus: string;
  stats: { avg24h: number | null; trend: Trend | null; "1h"?: WindowStats; "24h"?: WindowStats };
  config: DeviceConfig;
}

export interface Alert {
  id: string;
  deviceId: string;
  type: string;
  message: string;
  severity: Severity;
  value: number | null;
  threshold: number | null;
  status: AlertStatus;
  triggeredAt: string;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
  escalatedAt?: string | null;
  acknowledgedBy?: string | null;
  resolvedBy?: string | null;
  history?: AlertChange[];
}

export interface AlertChange {
  sequence: number;
  action: string;
  fromStatus: AlertStatus | null;
  toStatus: AlertStatus;
  actor: string | null;
  note: string | null;
  at: string;
}

export interface HistoryPoint {
  timestamp: string;
  value: number;
  min?: number;
  max?: number;
  count?: number;
}

export interface HistoryPage {
  deviceId: string;
  readings: HistoryPoint[];
}

export interface Dashboard {
  devices: { total: number; online: number; offline: number };
  readings: { lastMinute: number; perMinute: number; dataPointsLastHour: number | null }; // null: see SystemMetrics.metrics
  alerts: {
    open: number;
    bySeverity: Record<Severity, number>;
    triggered24h: number;
    acknowledged24h: number;
    resolved24h: number;
    mttaSeconds24h: number | null;
    mttrSeconds24h: number | null;
  };
  systemHealth: string | null; // null until the aggregate function has written system:metrics
}

export interface TrendAnalysis {
  deviceId: string;
  count: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  slopePerHour: number | null;
  trend: Trend | null;
  forecast: { minutes: number; timestamp: string; value: number }[];
  timeToThreshold: { threshold: string; value: number; seconds: number; at: string } | null;
}

export interface SummaryDay {
  date: string;
  readings: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  alerts: Record<string, number>;
  alertsTotal: number;
  mttaSeconds: number | null;
  mttrSeconds: number | null;
}

export interface Summary {
  from: string;
  to: string;
  days: number;
  devices: {
    deviceId: string;
    days: SummaryDay[];
    totals: { readings: number; alerts: number; mttaSeconds: number | null; mttrSeconds: number | null };
  }[];
  overall: { readings: number; alerts: number; mttaSeconds: number | null; mttrSeconds: number | null };
}

export interface SystemMetrics {
  /** The aggregate function's `system:metrics`: null until it has written them (and after their 1 h TTL). */
  metrics: {
    totalDevices: number;
    activeDevices: number;
    activeAlertsCount: number;
    dataPointsLastHour: number;
    systemHealth: string;
  } | null;
  process: { uptimeSeconds: number; requestsPerMinute: number; errorRate: number; transport: string };
  database: { sizeBytes: number; connections: number };
  /** Redis's memory figures, or why they could not be read (Redis down). */
  redis:
    | { usedMemoryBytes: number | null; usedMemoryHuman: string | null; peakMemoryBytes: number | null; keys: number }
    | { error: string };
}

export interface Silence {
  id: number | string;
  deviceId: string | null;
  reason: string;
  startsAt: string;
  endsAt: string;
  createdBy?: string | null;
}

export interface Session {
  token: string;
  username: string;
  role: Role;
  expiresAt: string;
}

// Socket.IO server → client
export interface SensorData {
  deviceId: string;
  timestamp: string;
  data: { value: number; unit: string; status: string };
  stats: { avg: number | null; trend: Trend | null };
}

export interface AlertEvent {
  alertId: string;
  deviceId: string;
  type: string;
  severity: Severity;
  message: string;
  value: number | null;
  threshold: number | null;
  timestamp: string;
  status?: AlertStatus;
  action?: string;
  sequence?: number;
  replayed?: boolean;
  actor?: string | null;
}

export interface SystemStatus {
  status: string;
  timestamp: string;
  metrics: Record<string, unknown> | null;
  dependencies: Record<string, { status: string }>;
}

export interface DeviceStatusEvent {
  deviceId: string;
  status: "online" | "offline";
  timestamp: string;
}
