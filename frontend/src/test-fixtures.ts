// Shared test data.
import type { Device } from "./api/types";

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
    breachCount: 2,
    clearAfterS: 30,
    hysteresisPct: 2,
  },
});
