// Hourly means per device from finer buckets, and values as a share of the normal range (pure).
import type { DeviceConfig, HistoryPoint } from "../api/types";

/** Start of the local hour of a time, as epoch ms. */
export const hourOf = (iso: string): number => {
  const date = new Date(iso);
  date.setMinutes(0, 0, 0);
  return date.getTime();
};

/** The last `hours` local hour starts, oldest first. */
export function lastHours(hours: number, now = Date.now()): number[] {
  const current = hourOf(new Date(now).toISOString());
  return Array.from({ length: hours }, (_, i) => current - (hours - 1 - i) * 3600_000);
}

/** Count-weighted means of the buckets in each hour (null where there were none). */
export function hourlyMeans(points: HistoryPoint[], hours: number[]): (number | null)[] {
  const sums = new Map<number, { total: number; weight: number }>();
  for (const point of points) {
    if (point.value === null) continue; // a bucket without readings
    const weight = point.count ?? 1;
    const slot = sums.get(hourOf(point.timestamp)) ?? { total: 0, weight: 0 };
    slot.total += point.value * weight;
    slot.weight += weight;
    sums.set(hourOf(point.timestamp), slot);
  }
  return hours.map((hour) => {
    const slot = sums.get(hour);
    return slot && slot.weight ? slot.total / slot.weight : null;
  });
}

/** Where a value sits in the normal range: 0 at normalMin, 100 at normalMax (beyond: below 0 or over 100). */
export function percentOfNormal(
  value: number | null,
  config: Pick<DeviceConfig, "normalMin" | "normalMax">,
): number | null {
  if (value === null || config.normalMin === null || config.normalMax === null || config.normalMax === config.normalMin)
    return null;
  return ((value - config.normalMin) / (config.normalMax - config.normalMin)) * 100;
}
