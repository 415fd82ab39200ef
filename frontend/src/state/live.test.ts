import type { Alert } from "../api/types";
import { alert as openAlert, alertEvent, device, sensorData } from "../test-fixtures";
import {
  ALERTS_REMEMBERED,
  appendPoint,
  applyAlertEvent,
  applyDeviceStatus,
  applySensorData,
  initialLive,
  isNewAlertChange,
  LIVE_POINTS,
  setDevices,
  setOpenAlerts,
  sortAlerts,
  worstSeverity,
} from "./live";

const reading = (value: number, timestamp: string) => sensorData(value, timestamp);

describe("live buffers", () => {
  it("keeps at most LIVE_POINTS points, the newest", () => {
    let points = [] as { t: number; v: number }[];
    for (let t = 0; t < LIVE_POINTS + 50; t++) points = appendPoint(points, { t, v: t });
    expect(points).toHaveLength(LIVE_POINTS);
    expect(points[0].t).toBe(50);
    expect(points[points.length - 1].t).toBe(LIVE_POINTS + 49);
  });

  it("ignores a redelivered reading and sorts a late one in", () => {
    let points = appendPoint(appendPoint([], { t: 1, v: 1 }), { t: 3, v: 3 });
    expect(appendPoint(points, { t: 3, v: 3 })).toBe(points);
    points = appendPoint(points, { t: 2, v: 2 });
    expect(points.map((p) => p.t)).toEqual([1, 2, 3]);
  });
});

describe("sensor data", () => {
  it("moves the device's last reading and trend forward, never back", () => {
    let state = setDevices(initialLive, [device()]);
    state = applySensorData(state, reading(61, "2026-11-30T10:00:05.000Z"));
    expect(state.devices["device-001"].lastReading?.value).toBe(61);
    expect(state.devices["device-001"].stats.trend).toBe("increasing");
    state = applySensorData(state, reading(40, "2026-11-30T09:59:00.000Z"));
    expect(state.devices["device-001"].lastReading?.value).toBe(61);
    expect(state.series["device-001"]).toHaveLength(2);
  });

  it("brings an offline device back and ignores malformed events", () => {
    let state = applyDeviceStatus(setDevices(initialLive, [device()]), "device-001", false);
    expect(state.devices["device-001"].status).toBe("offline");
    expect(applyDeviceStatus(state, "device-001", false)).toBe(state); // a repeated device-status changes nothing
    state = applySensorData(state, reading(50, "2026-11-30T10:01:00.000Z"));
    expect(state.devices["device-001"].status).toBe("active");
    expect(applySensorData(state, { ...reading(1, "not a time") })).toBe(state);
  });
});

describe("alert events", () => {
  const event = alertEvent();

  it("opens, acknowledges and resolves, tracking the last sequence and the device's alert status", () => {
    let state = setDevices(initialLive, [device()]);
    state = applyAlertEvent(state, { ...event, sequence: 4 }, false);
    expect(state.alerts["alert-007"].status).toBe("triggered");
    expect(state.devices["device-001"].alertStatus).toBe("high");
    state = applyAlertEvent(
      state,
      {
        ...event,
        status: "acknowledged",
        action: "acknowledged",
        sequence: 5,
        actor: "olga",
        timestamp: "2026-11-30T10:02:00.000Z",
      },
      false,
    );
    expect(state.alerts["alert-007"]).toMatchObject({
      status: "acknowledged",
      acknowledgedBy: "olga",
      triggeredAt: event.timestamp,
    });
    state = applyAlertEvent(state, { ...event, status: "resolved", action: "resolved", sequence: 6 }, true);
    expect(state.alerts["alert-007"]).toBeUndefined();
    expect(state.devices["device-001"].alertStatus).toBe("normal");
    expect(state.lastSequence).toBe(6);
  });

  it("a replayed older change does not move the sequence back", () => {
    let state = applyAlertEvent(initialLive, { ...event, sequence: 9 }, false);
    state = applyAlertEvent(state, { ...event, alertId: "alert-003", sequence: 3, replayed: true }, false);
    expect(state.lastSequence).toBe(9);
    expect(state.alerts["alert-003"].status).toBe("triggered"); // another alert's change, late: still news
  });

  it("ignores a change it already applied, and an older one of the same alert", () => {
    const acknowledged = { ...event, status: "acknowledged" as const, action: "acknowledged" as const, sequence: 5 };
    const state = applyAlertEvent(applyAlertEvent(initialLive, { ...event, sequence: 4 }, false), acknowledged, false);
    expect(isNewAlertChange(state, { ...acknowledged, replayed: true })).toBe(false);
    expect(applyAlertEvent(state, { ...acknowledged, replayed: true }, false)).toBe(state); // the same object
    expect(applyAlertEvent(state, { ...event, sequence: 4, replayed: true }, false)).toBe(state); // no reopening
    expect(isNewAlertChange(state, { ...event, sequence: null })).toBe(true); // no sequence: nothing to compare
    expect(state.alerts["alert-007"].status).toBe("acknowledged");
  });

  it("remembers the last change of at most ALERTS_REMEMBERED alerts, the newest", () => {
    let state = initialLive;
    for (let n = 1; n <= ALERTS_REMEMBERED + 5; n++)
      state = applyAlertEvent(state, { ...event, alertId: `alert-${n}`, sequence: n }, true);
    expect(Object.keys(state.alertSequences)).toHaveLength(ALERTS_REMEMBERED);
    expect(state.alertSequences["alert-5"]).toBeUndefined();
    expect(state.alertSequences[`alert-${ALERTS_REMEMBERED + 5}`]).toBe(ALERTS_REMEMBERED + 5);
  });

  it("orders by severity then newest, and keeps only open ones from the API", () => {
    const alert = (
      id: string,
      severity: Alert["severity"],
      triggeredAt: string,
      status: Alert["status"] = "triggered",
    ): Alert => openAlert({ id, deviceId: event.deviceId, severity, triggeredAt, status });
    const alerts = [
      alert("a", "low", "2026-11-30T10:00:00Z"),
      alert("b", "critical", "2026-11-30T09:00:00Z"),
      alert("c", "low", "2026-11-30T11:00:00Z"),
      alert("d", "high", "2026-11-30T11:00:00Z", "resolved"),
    ];
    expect(sortAlerts(alerts).map((a) => a.id)).toEqual(["b", "d", "c", "a"]);
    expect(Object.keys(setOpenAlerts(initialLive, alerts).alerts).sort()).toEqual(["a", "b", "c"]);
    expect(worstSeverity(alerts.slice(0, 3), "device-001")).toBe("critical");
  });
});
