import { SEVERITIES_DOWN, type Severity } from "../api/types";

export function SeverityCounts({ counts }: { counts: Record<Severity, number> }) {
  return (
    <ul className="severity-counts" aria-label="Open alerts by severity">
      {SEVERITIES_DOWN.map((severity) => (
        <li key={severity} className={`pill ${counts[severity] ? severity : "none"}`}>
          <strong>{counts[severity] ?? 0}</strong> {severity}
        </li>
      ))}
    </ul>
  );
}

export function countBySeverity(alerts: { severity: Severity }[]): Record<Severity, number> {
  const counts = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const alert of alerts) counts[alert.severity] += 1;
  return counts;
}
