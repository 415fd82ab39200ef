// The service's shapes, as the dashboard names them. The types themselves are the service's contracts
// (contracts.ts, generated from iotmon/core/contracts by `make generate`): change them there.
import type * as C from "./contracts";
import { SEVERITIES as C_SEVERITIES } from "./contracts";

export type {
  Ack,
  Alert,
  ApiKey,
  Backtest,
  Dashboard,
  DeadLetters,
  Device,
  DeviceConfig,
  Fleet,
  FleetAnalytics,
  FleetChange,
  FleetCounts,
  FleetDevice,
  FleetGroup,
  FleetStatus,
  FleetTrend,
  HistoryPoint,
  NewApiKey,
  NewApiKeyCreated,
  SensorData,
  Silence,
  Summary,
  SummaryDay,
  SystemMetrics,
  SystemStatus,
  TrendAnalysis,
  WindowStats,
} from "./contracts";
export { ALERT_TYPES, LIMITS, SEVERITIES } from "./contracts";

export type Severity = C.Alert["severity"];
/** The most severe first, as the dashboard lists them. */
export const SEVERITIES_DOWN: readonly Severity[] = [...C_SEVERITIES].reverse();
export type AlertStatus = C.Alert["status"];
export type AlertType = C.Alert["type"];
export type Role = C.Login["role"];
export type Trend = C.WindowStats["trend"];
/** One entry of an alert's history. */
export type AlertChange = C.AlertStep;
export type HistoryPage = C.History;
/** Who is logged in: the login's answer. */
export type Session = C.Login;
/** `alert-triggered` / `alert-resolved` as Socket.IO delivers them. */
export type AlertEvent = C.LiveAlert;
export type DeviceStatusEvent = C.DeviceStatusChange;
export type FleetState = C.FleetDevice["state"];
