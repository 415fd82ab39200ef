// The dashboard's stores and the actions that talk to the service.
import { toast } from "react-toastify";
import {
  ApiError,
  DEVICE_LIST,
  get,
  onReachability,
  onUnauthorized,
  post,
  put,
  query,
  setRenewal,
  setToken,
} from "../api/client";
import type { Alert, Device, HistoryPage, Session } from "../api/types";
import { initialFleet, type FleetLive } from "./fleet";
import { initialLive, seedSeries, setDevices, setOpenAlerts, type LiveState } from "./live";
import { enqueue, flush, type ActionKind, type QueuedAction } from "./outbox";
import { load, save } from "./persisted";
import { createStore } from "./store";

export type Theme = "dark" | "light";

export interface Preferences {
  theme: Theme;
  sound: boolean;
}

const preferredTheme = (): Theme =>
  typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";

const RENEW_BEFORE_MS = 60_000; // a new access token a minute before the old one expires
const RETRY_RENEWAL_MS = 30_000;
let renewal: Promise<string | null> | null = null;
let renewalTimer: ReturnType<typeof setTimeout> | undefined;

export const live = createStore<LiveState>(initialLive);
export const fleetLive = createStore<FleetLive>(initialFleet);
export const preferences = createStore<Preferences>(load("preferences", { theme: preferredTheme(), sound: false }));
export const session = createStore<Session | null>(validSession(load<Session | null>("session", null)));
export const outbox = createStore<QueuedAction[]>(load("outbox", []));

preferences.subscribe(() => save("preferences", preferences.get()));
outbox.subscribe(() => save("outbox", outbox.get()));
session.subscribe(() => {
  save("session", session.get());
  setToken(session.get()?.token ?? null);
  scheduleRenewal();
  if (session.get()) live.update((state) => (state.loginRequired ? { ...state, loginRequired: false } : state));
});
setToken(session.get()?.token ?? null);
setRenewal(renewToken);
scheduleRenewal();
onReachability((reachable) =>
  live.update((state) => (state.reachable === reachable ? state : { ...state, reachable })),
);
onUnauthorized(() => live.update((state) => (state.loginRequired ? state : { ...state, loginRequired: true })));

function validSession(found: Session | null): Session | null {
  return found?.sessionExpiresAt && Date.parse(found.sessionExpiresAt) > Date.now() ? found : null;
}

/** A new access token for the session (one request however many callers ask at once); null: log in again. */
export function renewToken(): Promise<string | null> {
  const current = session.get();
  if (!current) return Promise.resolve(null);
  renewal ??= post<Session>("/api/auth/refresh", { refreshToken: current.refreshToken })
    .then((renewed) => {
      session.update(() => renewed);
      return renewed.token;
    })
    .catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 401) session.update(() => null);
      else renewalTimer = setTimeout(() => void renewToken(), RETRY_RENEWAL_MS); // unreachable: try again
      return null;
    })
    .finally(() => {
      renewal = null;
    });
  return renewal;
}

function scheduleRenewal(): void {
  clearTimeout(renewalTimer);
  const current = session.get();
  if (!current) return;
  const due = Date.parse(current.expiresAt) - RENEW_BEFORE_MS - Date.now();
  renewalTimer = setTimeout(() => void renewToken(), Math.max(due, 0));
}

export const canOperate = (current: Session | null): boolean =>
  current?.role === "operator" || current?.role === "admin";

export const isAdmin = (current: Session | null): boolean => current?.role === "admin";

export async function login(username: string, password: string): Promise<Session> {
  const found = await post<Session>("/api/auth/login", { username, password });
  session.update(() => found);
  live.update((state) => ({ ...state, loginRequired: false }));
  return found;
}

/** End the session on the service too (its tokens stop working everywhere at once), then forget it. */
export function logout(): void {
  // The refresh token names the session even when the access token has expired.
  const current = session.get();
  if (current) post("/api/auth/logout", { refreshToken: current.refreshToken }).catch(() => undefined);
  session.update(() => null);
}

/** Any API error as a toast that says what to do next. */
export function showError(error: unknown, doing: string): void {
  if (error instanceof ApiError && error.status === 401) {
    logout();
    toast.error(`${doing}: your session has ended; log in again.`);
  } else {
    toast.error(`${doing}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function refreshDevices(): Promise<void> {
  const { devices } = await get<{ devices: Device[] }>(DEVICE_LIST);
  live.update((state) => setDevices(state, devices));
}

export async function refreshOpenAlerts(): Promise<void> {
  const { alerts } = await get<{ alerts: Alert[] }>(`/api/alerts${query({ status: "open", limit: 500 })}`);
  live.update((state) => setOpenAlerts(state, alerts));
}

/** Fill a device's live buffer from the last `windowMs` of history, unless readings are already there. */
export async function seedLive(deviceId: string, windowMs: number): Promise<void> {
  if ((live.get().series[deviceId]?.length ?? 0) > 1) return;
  const from = new Date(Date.now() - windowMs).toISOString();
  const page = await get<HistoryPage>(
    `/api/devices/${deviceId}/history${query({ from, resolution: "raw", limit: 2000 })}`,
  );
  live.update((state) =>
    seedSeries(
      state,
      deviceId,
      page.readings.flatMap((r) => (r.value === null ? [] : [{ t: Date.parse(r.timestamp), v: r.value }])),
    ),
  );
}

const sendAction = (action: QueuedAction) =>
  put<{ alert: Alert }>(
    `/api/alerts/${encodeURIComponent(action.alertId)}/${action.kind}`,
    action.note ? { note: action.note } : {},
  );

/** Acknowledge or resolve; while the service is unreachable the action waits in the outbox. */
export async function alertAction(alertId: string, kind: ActionKind, note: string): Promise<"sent" | "queued"> {
  const action: QueuedAction = { alertId, kind, note, queuedAt: new Date().toISOString() };
  try {
    await sendAction(action);
    await refreshOpenAlerts().catch(() => undefined);
    return "sent";
  } catch (error) {
    if (error instanceof ApiError && error.unreachable) {
      outbox.update((queue) => enqueue(queue, action));
      return "queued";
    }
    throw error;
  }
}

let flushing = false;

/** Send what waited while offline (on every reconnect). */
export async function flushOutbox(): Promise<void> {
  if (flushing || outbox.get().length === 0) return;
  flushing = true;
  try {
    const result = await flush(outbox.get(), sendAction);
    outbox.update(() => result.remaining);
    if (result.sent.length) toast.success(`Sent ${result.sent.length} queued action(s).`);
    for (const { action, reason } of result.refused)
      toast.warn(`Queued ${action.kind} of ${action.alertId} was refused: ${reason}`);
    if (result.sent.length) await refreshOpenAlerts().catch(() => undefined);
  } finally {
    flushing = false;
  }
}
