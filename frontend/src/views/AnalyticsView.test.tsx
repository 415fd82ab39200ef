import { screen, within } from "@testing-library/react";
import type { FleetAnalytics, FleetTrend, Summary, SystemMetrics } from "../api/types";
import { stubApi, WithMeta } from "../test-api";
import { renderWithProviders } from "../test-render";
import { AnalyticsView } from "./AnalyticsView";

vi.mock("../components/Plot", () => ({ Plot: () => null, loadPlotly: vi.fn() })); // jsdom draws no charts

const emptySummary: Summary = {
  from: "2026-11-24",
  to: "2026-11-30",
  days: 7,
  devices: [],
  overall: { readings: 0, alerts: 0, mttaSeconds: null, mttrSeconds: null },
};

const system = (changes: Partial<SystemMetrics>): SystemMetrics => ({
  metrics: null,
  process: { uptimeSeconds: 90, requestsPerMinute: 12, errorRate: 0, transport: "embedded" },
  database: { sizeBytes: 10 * 1048576, connections: 3 },
  redis: { usedMemoryBytes: 1000, usedMemoryHuman: "1.2M", peakMemoryBytes: 2000, keys: 42 },
  ...changes,
});

const trend = (id: string, changes: Partial<FleetTrend> = {}): FleetTrend => ({
  deviceId: id,
  type: "temperature",
  location: "assembly-line-1",
  unit: "celsius",
  normalMin: 20,
  normalMax: 80,
  avg: 50,
  min: 40,
  max: 60,
  trend: "increasing",
  slopePerHour: 0.5,
  value: 51,
  forecast60: 51.5,
  timeToThreshold: null,
  hourly: [49, 50],
  ...changes,
});

const analytics = (devices: FleetTrend[], matched = devices.length) =>
  new WithMeta({ hours: ["2026-11-30T09:00:00.000Z", "2026-11-30T10:00:00.000Z"], devices } as FleetAnalytics, {
    matched,
    count: devices.length,
    limit: 50,
    sort: "risk",
  });

const oneDevice = { "/api/analytics/fleet": analytics([trend("device-001")]) };

const renderView = () => renderWithProviders(<AnalyticsView />);

describe("AnalyticsView", () => {
  it("renders before the aggregate function has written the system metrics, and with Redis down", async () => {
    stubApi({
      ...oneDevice,
      "/api/metrics/system": system({ metrics: null, redis: { error: "ConnectionError: refused" } }),
      "/api/analytics/summary": emptySummary,
    });
    renderView();
    const utilisation = screen.getByRole("region", { name: "System utilisation" });
    expect(await within(utilisation).findByText("readings, last hour")).toBeTruthy();
    expect(within(utilisation).getByText("readings, last hour").previousElementSibling?.textContent).toBe("—");
    expect(within(utilisation).getByText("Redis unavailable").previousElementSibling?.textContent).toBe("—");
    expect(within(utilisation).getByText("API requests / min")).toBeTruthy();

    const trends = await screen.findByRole("region", { name: "Trends across devices" });
    expect(within(trends).getByRole("row", { name: /device-001/ }).textContent).toMatch(/increasing/);
  });

  it("shows the figures once they are there", async () => {
    stubApi({
      "/api/metrics/system": system({
        metrics: {
          totalDevices: 5,
          activeDevices: 5,
          activeAlertsCount: 0,
          dataPointsLastHour: 1800,
          systemHealth: "healthy",
        },
      }),
      "/api/analytics/summary": emptySummary,
    });
    renderView();
    const figure = await screen.findByText("readings, last hour");
    expect(figure.previousElementSibling?.textContent).toMatch(/^1[,.\s]?800$/);
    expect(screen.getByText("Redis, 42 keys").previousElementSibling?.textContent).toBe("1.2M");
  });

  it("asks for every device's trend in one request, whatever the fleet's size", async () => {
    const many = Array.from({ length: 50 }, (_, i) => trend(`pump-${String(i).padStart(4, "0")}`));
    many[0] = trend("pump-0000", {
      timeToThreshold: { threshold: "alertMax", value: 85, seconds: 1800, at: "2026-11-30T11:00:00.000Z" },
    });
    const fetch = stubApi({
      "/api/analytics/fleet": analytics(many, 10_000),
      "/api/metrics/system": system({}),
      "/api/analytics/summary": emptySummary,
    });
    renderView();
    const trends = await screen.findByRole("region", { name: "Trends across devices" });
    expect(within(trends).getAllByRole("row")).toHaveLength(51);
    expect(within(trends).getByRole("row", { name: /pump-0000/ }).textContent).toMatch(/30 min/);
    expect(screen.getByText("50 of 10000 devices, the nearest to a limit first")).toBeTruthy();
    const paths = fetch.mock.calls.map(([input]) => new URL(String(input), "http://dashboard.test").pathname);
    expect(paths.filter((p) => p.startsWith("/api/devices") || p.startsWith("/api/analytics/trends"))).toEqual([]);
    expect(paths.filter((p) => p === "/api/analytics/fleet")).toHaveLength(1);
  });
});
