// Alert counts over time, by severity and by type (pure: alerts in, chart series out).
import type { Alert, Severity } from "../api/types";

export const dayOf = (iso: string): string => {
  const date = new Date(iso);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
};

/** "Nov 29" for "2026-11-29". */
export const shortDay = (day: string): string =>
  new Date(`${day}T12:00:00`).toLocaleDateString(undefined, { month: "short", day: "numeric" });

/** Local days from `days - 1` days ago to today. */
export function lastDays(days: number, now = new Date()): string[] {
  return Array.from({ length: days }, (_, i) =>
    dayOf(new Date(now.getTime() - (days - 1 - i) * 86_400_000).toISOString()),
  );
}

/** counts[key][day]: alerts triggered per local day, grouped by `key`. */
export function countByDay(alerts: Alert[], days: string[], key: (alert: Alert) => string): Record<string, number[]> {
  const index = new Map(days.map((day, i) => [day, i]));
  const counts: Record<string, number[]> = {};
  for (const alert of alerts) {
    const slot = index.get(dayOf(alert.triggeredAt));
    if (slot === undefined) continue;
    (counts[key(alert)] ??= days.map(() => 0))[slot] += 1;
  }
  return counts;
}

export function meanSeconds(alerts: Alert[], end: (alert: Alert) => string | null | undefined): number | null {
  const spans = alerts.flatMap((a) => {
    const at = end(a);
    return at ? [(Date.parse(at) - Date.parse(a.triggeredAt)) / 1000] : [];
  });
  return spans.length ? spans.reduce((sum, s) => sum + s, 0) / spans.length : null;
}

export const SEVERITY_COLORS: Record<Severity, string> = {
  critical: "#e5484d",
  high: "#f76b15",
  medium: "#ffc53d",
  low: "#3e8ef7",
};
