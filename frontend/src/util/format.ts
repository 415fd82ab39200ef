// Readable numbers, units and local times.

const UNITS: Record<string, string> = {
  celsius: "°C",
  psi: "PSI",
  hz: "Hz",
  "units/hour": "units/h",
  percentage: "%",
};

export const unitLabel = (unit: string | null | undefined): string => (unit ? (UNITS[unit] ?? unit) : "");

export function formatValue(value: number | null | undefined, unit?: string | null, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const text = value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const label = unitLabel(unit);
  return label ? `${text} ${label}` : text;
}

/** A count with thousands separators, or "—" when the service has no figure yet. */
export const formatCount = (value: number | null | undefined): string =>
  value === null || value === undefined || !Number.isFinite(value) ? "—" : value.toLocaleString();

export function formatTime(iso: string | null | undefined, withDate = false): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return withDate
    ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" })
    : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  return `${formatDuration((now - Date.parse(iso)) / 1000)} ago`;
}

export const TREND_ARROWS: Record<string, string> = { increasing: "↗", decreasing: "↘", stable: "→" };

export const titleCase = (text: string): string => text.replace(/[_-]+/g, " ").replace(/^\w/, (c) => c.toUpperCase());
