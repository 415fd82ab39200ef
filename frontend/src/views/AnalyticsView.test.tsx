import { screen, within } from "@testing-library/react";
import type { Summary, SystemMetrics, TrendAnalysis } from "../api/types";
import { stubApi } from "../test-api";
import { device } from "../test-fixtures";
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

const trend: TrendAnalysis = {
  deviceId: "device-001",
  window: "24h",
  slopePerSecond: 0.5 / 3600,
  lastReading: null,
  thresholds: { alertMin: 15, alertMax: 85 },
  count: 100,
  avg: 50,
  min: 40,
  max: 60,
  slopePerHour: 0.5,
  trend: "increasing",
  forecast: [{ minutes: 60, timestamp: "2026-11-30T11:00:00.000Z", value: 51.5, low: 50.5, high: 52.5 }],
  timeToThreshold: null,
};

const oneDevice = {
  "/api/devices": { devices: [device()] },
  "/api/devices/device-001/history": {
    deviceId: "device-001",
    readings: [{ timestamp: "2026-11-30T10:00:00.000Z", value: 50, min: 49, max: 51, count: 150 }],
  },
  "/api/analytics/trends/device-001": trend,
};

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
});
