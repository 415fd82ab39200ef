import { operatorSession } from "../test-fixtures";
import { live, session } from "../state/app";
import { initialLive } from "../state/live";
import { stubApi, WithMeta } from "../test-api";
import { syncQueryCache } from "./cacheSync";
import { ApiError } from "./client";
import { alertHistoryQuery, alertsQuery, queryKeys, silencesQuery, summaryStart } from "./queries";
import { createQueryClient, shouldRetry } from "./queryClient";

afterEach(() => {
  live.update(() => initialLive);
  session.update(() => null);
});

describe("query options", () => {
  it("asks for the alert history of the summary's UTC days and keeps the total that matched", async () => {
    const fetch = stubApi({ "/api/alerts/history": new WithMeta({ alerts: [] }, { totalAlerts: 812 }) });
    const client = createQueryClient();
    const page = await client.fetchQuery(alertHistoryQuery({ days: 7 }));
    expect(page).toEqual({ alerts: [], total: 812 });
    const url = new URL(String(fetch.mock.calls[0][0]), "http://dashboard.test");
    expect(url.searchParams.get("from")).toBe(summaryStart(7));
    expect(url.searchParams.get("limit")).toBe("500");
  });

  it("starts the summary's window at midnight UTC, today included", () => {
    expect(summaryStart(7, new Date("2026-11-30T15:00:00Z"))).toBe("2026-11-24T00:00:00.000Z");
    expect(summaryStart(1, new Date("2026-11-30T00:00:00Z"))).toBe("2026-11-30T00:00:00.000Z");
  });

  it("files every alert query under one prefix, so one invalidation reaches them all", () => {
    const filters = { status: "open", severity: "", deviceId: "", type: "" };
    for (const key of [alertsQuery(filters).queryKey, alertHistoryQuery({ deviceId: "d" }).queryKey]) {
      expect(key.slice(0, queryKeys.alerts.length)).toEqual(queryKeys.alerts);
    }
    expect(silencesQuery().queryKey.slice(0, 1)).not.toEqual(queryKeys.alerts);
  });
});

describe("retries", () => {
  it("retries what may pass later, a few times, and never a refusal", () => {
    expect(shouldRetry(0, new ApiError(0, "UNREACHABLE", "down"))).toBe(true);
    expect(shouldRetry(0, new ApiError(503, "HTTP_503", "starting"))).toBe(true);
    expect(shouldRetry(3, new ApiError(503, "HTTP_503", "starting"))).toBe(false);
    expect(shouldRetry(0, new ApiError(401, "UNAUTHORIZED", "log in"))).toBe(false);
    expect(shouldRetry(0, new ApiError(404, "DEVICE_NOT_FOUND", "no such device"))).toBe(false);
    expect(shouldRetry(0, new TypeError("a bug"))).toBe(false);
  });
});

describe("syncQueryCache", () => {
  const state = (client: ReturnType<typeof createQueryClient>, key: readonly unknown[]) =>
    client.getQueryState(key)?.isInvalidated;

  function cached() {
    const client = createQueryClient();
    const list = alertsQuery({ status: "open", severity: "", deviceId: "", type: "" }).queryKey;
    client.setQueryData(list, []);
    client.setQueryData(silencesQuery().queryKey, []);
    return { client, list, silences: silencesQuery().queryKey };
  }

  it("marks the alert queries stale when the open alerts change live", () => {
    const { client, list, silences } = cached();
    const stop = syncQueryCache(client);
    live.update((s) => ({ ...s, alerts: { ...s.alerts } }));
    expect(state(client, list)).toBe(true);
    expect(state(client, silences)).toBe(false);
    stop();
  });

  it("marks everything stale when the service is reachable again, and on login or logout", () => {
    const { client, silences } = cached();
    const stop = syncQueryCache(client);
    live.update((s) => ({ ...s, reachable: false }));
    expect(state(client, silences)).toBe(false);
    live.update((s) => ({ ...s, reachable: true }));
    expect(state(client, silences)).toBe(true);

    client.setQueryData(silences, []); // fresh again
    session.update(() => operatorSession);
    expect(state(client, silences)).toBe(true);
    stop();
  });
});
