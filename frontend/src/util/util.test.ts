import { toCsv } from "./csv";
import { formatDuration, formatValue, unitLabel } from "./format";
import { hourlyMeans, lastHours, percentOfNormal } from "../views/heatmap";
import { countByDay, lastDays, meanSeconds } from "../views/alertAnalytics";
import { device } from "../test-fixtures";
import type { Alert } from "../api/types";

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
  const alert = (triggeredAt: string, severity: Alert["severity"], acknowledgedAt: string | null = null): Alert => ({
    id: triggeredAt,
    deviceId: "d",
    type: "t",
    message: "",
    severity,
    value: 1,
    threshold: 1,
    status: "triggered",
    triggeredAt,
    acknowledgedAt,
    resolvedAt: null,
  });

  it("counts by day and group and averages response times", () => {
    const days = lastDays(2, new Date("2026-11-30T12:00:00"));
    const alerts = [
      alert(new Date("2026-11-30T08:00:00").toISOString(), "high", new Date("2026-11-30T08:01:00").toISOString()),
      alert(new Date("2026-11-29T08:00:00").toISOString(), "high"),
      alert(new Date("2026-11-20T08:00:00").toISOString(), "low"),
    ];
    expect(countByDay(alerts, days, (a) => a.severity)).toEqual({ high: [1, 1] });
    expect(meanSeconds(alerts, (a) => a.acknowledgedAt)).toBe(60);
  });
});
