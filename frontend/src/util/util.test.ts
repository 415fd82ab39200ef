import { toCsv } from "./csv";
import { formatDuration, formatValue, unitLabel } from "./format";
import { hourlyMeans, lastHours, percentOfNormal } from "../views/heatmap";
import { alertTypes, countByDay, countByTypeFromSummary, daysBetween } from "../views/alertAnalytics";
import { alert as openAlert, device } from "../test-fixtures";
import type { Alert, Summary } from "../api/types";

describe("csv", () => {
  it("quotes what would break a row and defuses formulas", () => {
    expect(
      toCsv(
        ["a", "b"],
        [
          ["x,y", 'say "hi"'],
          ["=1+1", -3],
          [null, "line\nbreak"],
        ],
      ),
    ).toBe('a,b\r\n"x,y","say ""hi"""\r\n\'=1+1,-3\r\n,"line\nbreak"\r\n');
  });
});

describe("formatting", () => {
  it("gives units and durations people read", () => {
    expect(unitLabel("celsius")).toBe("°C");
    expect(formatValue(75.25, "psi", 1)).toMatch(/^75[.,]3 PSI$/);
    expect(formatValue(null, "psi")).toBe("—");
    expect(formatDuration(42)).toBe("42 s");
    expect(formatDuration(125)).toBe("2 min 5 s");
    expect(formatDuration(7200)).toBe("2 h 0 min");
  });
});

describe("heatmap", () => {
  it("weights finer buckets by their counts within each hour", () => {
    const hours = lastHours(2, Date.parse("2026-11-30T10:30:00Z"));
    const at = (offsetMin: number) => new Date(hours[0] + offsetMin * 60_000).toISOString();
    const means = hourlyMeans(
      [
        { timestamp: at(0), value: 10, count: 1 },
        { timestamp: at(5), value: 20, count: 3 },
      ],
      hours,
    );
    expect(means).toEqual([17.5, null]);
  });

  it("places a value in the normal range", () => {
    const { config } = device();
    expect(percentOfNormal(50, config)).toBe(50);
    expect(percentOfNormal(86, config)).toBeCloseTo(110);
    expect(percentOfNormal(null, config)).toBeNull();
  });
});

describe("alert analytics", () => {
  const alert = (triggeredAt: string, severity: Alert["severity"]): Alert =>
    openAlert({ id: triggeredAt, severity, triggeredAt });

  it("counts alerts by UTC day and group", () => {
    const days = daysBetween("2026-11-29", "2026-11-30");
    expect(days).toEqual(["2026-11-29", "2026-11-30"]);
    const alerts = [
      alert("2026-11-30T08:00:00Z", "high"),
      alert("2026-11-29T23:59:00Z", "high"),
      alert("2026-11-28T23:59:59Z", "low"), // before the first day
    ];
    expect(countByDay(alerts, days, (a) => a.severity)).toEqual({ high: [1, 1] });
  });

  it("counts every alert of the summary by type and day, over all devices", () => {
    const day = (date: string, alerts: Record<string, number>) => ({
      date,
      readings: 0,
      avg: null,
      min: null,
      max: null,
      alerts,
      alertsTotal: Object.values(alerts).reduce((a, b) => a + b, 0),
      mttaSeconds: null,
      mttrSeconds: null,
    });
    const totals = { readings: 0, alerts: 0, mttaSeconds: null, mttrSeconds: null };
    const summary: Summary = {
      from: "2026-11-28",
      to: "2026-11-30",
      days: 3,
      devices: [
        {
          deviceId: "a",
          days: [day("2026-11-28", { anomaly: 2 }), day("2026-11-30", { threshold_high: 700 })],
          totals,
        },
        { deviceId: "b", days: [day("2026-11-30", { threshold_high: 1, anomaly: 1 })], totals },
      ],
      overall: { readings: 0, alerts: 704, mttaSeconds: 60, mttrSeconds: 120 },
    };
    const days = daysBetween(summary.from, summary.to);
    expect(countByTypeFromSummary(summary, days)).toEqual({ anomaly: [2, 0, 1], threshold_high: [0, 0, 701] });
    expect(alertTypes(summary)).toEqual(["anomaly", "threshold_high"]);
  });
});
