// Alert counts per UTC day, by severity and by type (pure: alerts or the service's summary in, chart series out).
// Days are UTC days because /api/analytics/summary counts them so, and both charts share its x axis.
import type { Alert, Severity, Summary } from "../api/types";

/** The UTC day ("2026-11-29") of an instant. */
export const dayOf = (iso: string): string => new Date(iso).toISOString().slice(0, 10);

/** "Nov 29" for "2026-11-29". */
export const shortDay = (day: string): string =>
  new Date(`${day}T12:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

/** Every day from `from` to `to` ("YYYY-MM-DD"), both included. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** counts[key][day]: alerts triggered per day, grouped by `key`. */
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

/** counts[type][day] over every device, from the summary: all alerts of the window, not one page of them. */
export function countByTypeFromSummary(summary: Summary, days: string[]): Record<string, number[]> {
  const index = new Map(days.map((day, i) => [day, i]));
  const counts: Record<string, number[]> = {};
  for (const device of summary.devices) {
    for (const day of device.days) {
      const slot = index.get(day.date);
      if (slot === undefined) continue;
      for (const [type, n] of Object.entries(day.alerts)) (counts[type] ??= days.map(() => 0))[slot] += n;
    }
  }
  return counts;
}

/** The alert types the summary has seen, sorted. */
export const alertTypes = (summary: Summary): string[] =>
  [...new Set(summary.devices.flatMap((d) => d.days.flatMap((day) => Object.keys(day.alerts))))].sort();

export const SEVERITY_COLORS: Record<Severity, string> = {
  critical: "#e5484d",
  high: "#f76b15",
  medium: "#ffc53d",
  low: "#3e8ef7",
};
