// Every REST read the views make, as TanStack Query options. Keys are built here only, broadest part first,
// so that invalidating a prefix (queryKeys.alerts, say) marks everything under it stale.
import { queryOptions } from "@tanstack/react-query";
import { DEVICE_LIST, get, query, request } from "./client";
import type {
  Alert,
  ApiKey,
  Dashboard,
  Device,
  Fleet,
  FleetAnalytics,
  HistoryPage,
  Silence,
  Summary,
  SystemMetrics,
  TrendAnalysis,
} from "./types";

export const SUMMARY_DAYS = 7; // the service's default window for /api/analytics/summary
const ALERT_PAGE_LIMIT = 500; // the service's largest page

export interface AlertFilters {
  status: string; // "open", "all" or one status
  severity: string; // "" for any
  deviceId: string;
  type: string;
}

export interface AlertHistoryFilters {
  deviceId?: string;
  days?: number; // the same UTC days as the summary; every alert when absent
  limit?: number;
}

/** A page of alerts, newest first, with how many match in all (more than the page when it is truncated). */
export interface AlertPage {
  alerts: Alert[];
  total: number;
}

/** What the fleet list shows: a text in a device's id, name, type or location, a state, a type, a location. */
export interface FleetFilters {
  q: string;
  status: string; // "" for any, or one of normal, warning, critical, offline
  type: string;
  location: string;
}

/** A page of the fleet's devices, with how many match (meta.matched), and the whole fleet's counts and groups. */
export interface FleetPage extends Fleet {
  matched: number;
  computedAt: string;
}

export const FLEET_PAGE_SIZE = 100; // devices per request

/** The fleet filters an address carries (`/?status=critical&location=line-2`), so that a view can be shared. */
export function fleetFilters(params: URLSearchParams): FleetFilters {
  return {
    q: params.get("q") ?? "",
    status: params.get("status") ?? "",
    type: params.get("type") ?? "",
    location: params.get("location") ?? "",
  };
}

export type Resolution = "raw" | "1m" | "5m" | "1h" | "auto";

export const queryKeys = {
  devices: ["devices"] as const,
  deviceList: () => [...queryKeys.devices, "list"] as const,
  device: (deviceId: string) => [...queryKeys.devices, "detail", deviceId] as const,
  history: (deviceId: string, window: Record<string, string | number>) => ["history", deviceId, window] as const,
  trends: ["trends"] as const,
  trend: (deviceId: string) => [...queryKeys.trends, deviceId] as const,
  alerts: ["alerts"] as const,
  alertList: (filters: AlertFilters) => [...queryKeys.alerts, "list", filters] as const,
  alertHistory: (filters: AlertHistoryFilters) => [...queryKeys.alerts, "history", filters] as const,
  silences: ["silences"] as const,
  apiKeys: ["api-keys"] as const,
  fleets: ["fleet"] as const,
  fleet: (filters: FleetFilters, offset: number, limit: number) =>
    [...queryKeys.fleets, filters, offset, limit] as const,
  fleetAnalytics: (filters: FleetFilters, limit: number) => ["fleet-analytics", filters, limit] as const,
  dashboard: ["metrics", "dashboard"] as const,
  systemMetrics: ["metrics", "system"] as const,
  summaries: ["summary"] as const,
  summary: (days: number) => [...queryKeys.summaries, days] as const,
};

/** Midnight UTC `days - 1` days ago: where the summary's window starts (today is included). */
export function summaryStart(days: number, now = new Date()): string {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return new Date(today - (days - 1) * 86_400_000).toISOString();
}

const devicePath = (deviceId: string) => `/api/devices/${encodeURIComponent(deviceId)}`;

export const devicesQuery = () =>
  queryOptions({
    queryKey: queryKeys.deviceList(),
    queryFn: () => get<{ devices: Device[] }>(DEVICE_LIST).then((d) => d.devices),
  });

/** One device with its 1 h and 24 h statistics. */
export const deviceQuery = (deviceId: string) =>
  queryOptions({
    queryKey: queryKeys.device(deviceId),
    queryFn: () => get<{ device: Device }>(devicePath(deviceId)).then((d) => d.device),
  });

/** A device's readings between two instants (a chart's range). */
export const historyQuery = (deviceId: string, from: string, to: string, resolution: Resolution = "auto") =>
  queryOptions({
    queryKey: queryKeys.history(deviceId, { from, to, resolution }),
    queryFn: () => get<HistoryPage>(`${devicePath(deviceId)}/history${query({ from, to, resolution, limit: 2000 })}`),
  });

/** A device's readings of the last `hours`, counted from when the request is made (so the key stays put). */
export const recentHistoryQuery = (deviceId: string, hours: number, resolution: Resolution) =>
  queryOptions({
    queryKey: queryKeys.history(deviceId, { hours, resolution }),
    queryFn: () => {
      const from = new Date(Date.now() - hours * 3600_000).toISOString();
      return get<HistoryPage>(`${devicePath(deviceId)}/history${query({ from, resolution, limit: 2000 })}`);
    },
  });

export const trendQuery = (deviceId: string) =>
  queryOptions({
    queryKey: queryKeys.trend(deviceId),
    queryFn: () => get<TrendAnalysis>(`/api/analytics/trends/${encodeURIComponent(deviceId)}`),
  });

/** The alerts list (open ones by default), filtered; at most one page of the newest. */
export const alertsQuery = (filters: AlertFilters) =>
  queryOptions({
    queryKey: queryKeys.alertList(filters),
    queryFn: () =>
      get<{ alerts: Alert[] }>(`/api/alerts${query({ ...filters, limit: ALERT_PAGE_LIMIT })}`).then((d) => d.alerts),
  });

/** Alerts of any status, newest first, with the total that matched (meta.totalAlerts). */
export const alertHistoryQuery = (filters: AlertHistoryFilters) =>
  queryOptions({
    queryKey: queryKeys.alertHistory(filters),
    queryFn: async (): Promise<AlertPage> => {
      const from = filters.days ? summaryStart(filters.days) : undefined;
      const limit = filters.limit ?? ALERT_PAGE_LIMIT;
      const reply = await request<{ alerts: Alert[] }>(
        "GET",
        `/api/alerts/history${query({ deviceId: filters.deviceId, from, limit })}`,
      );
      const total = typeof reply.meta.totalAlerts === "number" ? reply.meta.totalAlerts : reply.data.alerts.length;
      return { alerts: reply.data.alerts, total };
    },
  });

export const silencesQuery = () =>
  queryOptions({
    queryKey: queryKeys.silences,
    queryFn: () => get<{ silences: Silence[] }>("/api/silences").then((d) => d.silences),
  });

/** The gateways' API keys, active first (admins only; never their secrets). */
export const apiKeysQuery = () =>
  queryOptions({
    queryKey: queryKeys.apiKeys,
    queryFn: () => get<{ keys: ApiKey[] }>("/api/keys").then((d) => d.keys),
  });

/** The overview's figures: readings per minute, alerts with MTTA/MTTR over 24 h (the fleet list comes from
 * GET /api/fleet: not every device here). */
export const dashboardQuery = () =>
  queryOptions({
    queryKey: queryKeys.dashboard,
    queryFn: () => get<Dashboard>(`/api/metrics/dashboard${query({ items: "false" })}`),
  });

export const systemMetricsQuery = () =>
  queryOptions({ queryKey: queryKeys.systemMetrics, queryFn: () => get<SystemMetrics>("/api/metrics/system") });

/** Per device and UTC day: readings, alerts by type, MTTA/MTTR; and the totals over all of them. */
export const summaryQuery = (days = SUMMARY_DAYS) =>
  queryOptions({
    queryKey: queryKeys.summary(days),
    queryFn: () => get<Summary>(`/api/analytics/summary${query({ days })}`),
  });

/** The fleet's counts, groups and one page of the devices that match, the worst first: one request. */
export async function fetchFleet(filters: FleetFilters, offset: number, limit: number): Promise<FleetPage> {
  const reply = await request<Fleet>("GET", `/api/fleet${query({ ...filters, offset, limit })}`);
  const matched = typeof reply.meta.matched === "number" ? reply.meta.matched : reply.data.devices.length;
  return { ...reply.data, matched, computedAt: String(reply.meta.computedAt ?? "") };
}

export const fleetQuery = (filters: FleetFilters, offset: number, limit: number) =>
  queryOptions({
    queryKey: queryKeys.fleet(filters, offset, limit),
    queryFn: () => fetchFleet(filters, offset, limit),
  });

/** The devices' trends and hourly means (the nearest to an alert limit first): one request for the analytics. */
export const fleetAnalyticsQuery = (filters: FleetFilters, limit: number) =>
  queryOptions({
    queryKey: queryKeys.fleetAnalytics(filters, limit),
    queryFn: async () => {
      const reply = await request<FleetAnalytics>("GET", `/api/analytics/fleet${query({ ...filters, limit })}`);
      return { ...reply.data, matched: typeof reply.meta.matched === "number" ? reply.meta.matched : 0 };
    },
  });
