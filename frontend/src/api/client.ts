// The REST client: the API's envelope in, typed data or an ApiError out.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }

  /** The service could not be reached (network down, service stopped, gateway errors). */
  get unreachable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

export interface Envelope<T> {
  data: T;
  meta: Record<string, unknown>;
}

type Listener = (reachable: boolean) => void;

let token: string | null = null;
let renew: (() => Promise<string | null>) | null = null;
const reachability = new Set<Listener>();
const unauthorized = new Set<() => void>();

export function setToken(value: string | null): void {
  token = value;
}

/** How to get a new access token when one has expired (the session's refresh); null: log in again. */
export function setRenewal(renewal: (() => Promise<string | null>) | null): void {
  renew = renewal;
}

/** Hear whether the last request reached the service (for the offline banner). */
export function onReachability(listener: Listener): () => void {
  reachability.add(listener);
  return () => reachability.delete(listener);
}

/** Hear of a read refused with 401: the service wants a login to show its data (or the token expired). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorized.add(listener);
  return () => unauthorized.delete(listener);
}

function report(reachable: boolean): void {
  reachability.forEach((listener) => listener(reachable));
}

export async function request<T>(method: string, path: string, body?: unknown, retried = false): Promise<Envelope<T>> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    report(false);
    throw new ApiError(0, "UNREACHABLE", "the service cannot be reached; the last data stays on screen");
  }
  const payload = await response.json().catch(() => null);
  const error = new ApiError(
    response.status,
    payload?.error?.code ?? "HTTP_" + response.status,
    payload?.error?.message ?? response.statusText,
    payload?.error?.details,
  );
  report(!error.unreachable);
  // An access token lives minutes: get a new one from the session and ask once more.
  const renewable = !retried && !path.startsWith("/api/auth/"); // (the renewal itself never waits for one)
  if (error.code === "TOKEN_EXPIRED" && renewable && renew && (await renew())) {
    return request<T>(method, path, body, true);
  }
  if (response.status === 401 && method === "GET") unauthorized.forEach((listener) => listener());
  if (!response.ok || !payload?.success) throw error;
  return { data: payload.data as T, meta: payload.meta ?? {} };
}

export const get = <T>(path: string) => request<T>("GET", path).then((reply) => reply.data);
export const put = <T>(path: string, body: unknown) => request<T>("PUT", path, body).then((reply) => reply.data);
export const post = <T>(path: string, body: unknown) => request<T>("POST", path, body).then((reply) => reply.data);
export const del = <T>(path: string) => request<T>("DELETE", path).then((reply) => reply.data);

/** A query string from the defined values only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The devices the live store starts from (a small fleet's cards, the alerts filter): the first hundred. A fleet of
 * thousands is listed by GET /api/fleet, a page at a time; a device page adds its own device (views/DeviceView). */
export const DEVICE_LIST = `/api/devices${query({ limit: 100 })}`;
