// A bullet gauge: the value against the normal band and the alert thresholds.
import type { DeviceConfig } from "../api/types";
import { formatValue } from "../util/format";

/** The axis a device's value is drawn on: the alert limits with a margin, widened to show the value. */
export function bulletScale(config: DeviceConfig, value: number | null): [number, number] {
  const marks = [config.alertMin, config.normalMin, config.normalMax, config.alertMax, value].filter(
    (v): v is number => typeof v === "number" && Number.isFinite(v),
  );
  if (marks.length === 0) return [0, 1];
  const low = Math.min(...marks);
  const high = Math.max(...marks);
  const margin = (high - low || Math.abs(high) || 1) * 0.1;
  return [Math.max(low - margin, low >= 0 ? 0 : -Infinity), high + margin];
}

/** Where a value sits: normal, warning (outside normal) or alert (beyond a threshold). */
export function zone(config: DeviceConfig, value: number | null): "normal" | "warning" | "alert" | "unknown" {
  if (value === null || !Number.isFinite(value)) return "unknown";
  if ((config.alertMin !== null && value < config.alertMin) || (config.alertMax !== null && value > config.alertMax))
    return "alert";
  if (
    (config.normalMin !== null && value < config.normalMin) ||
    (config.normalMax !== null && value > config.normalMax)
  )
    return "warning";
  return "normal";
}

export function Bullet({ config, value, unit }: { config: DeviceConfig; value: number | null; unit: string | null }) {
  const [low, high] = bulletScale(config, value);
  const x = (v: number) => `${(((Math.min(Math.max(v, low), high) - low) / (high - low)) * 100).toFixed(2)}%`;
  const band = config.normalMin ?? low;
  const bandEnd = config.normalMax ?? high;
  const where = zone(config, value);
  const description = `${formatValue(value, unit)}; normal ${formatValue(config.normalMin, unit)} to ${formatValue(config.normalMax, unit)}`;
  return (
    <div
      className="bullet"
      role="meter"
      aria-valuemin={low}
      aria-valuemax={high}
      aria-valuenow={value ?? undefined}
      aria-label={description}
    >
      <div className="bullet-track">
        <div className="bullet-normal" style={{ left: x(band), width: `calc(${x(bandEnd)} - ${x(band)})` }} />
        {config.alertMin !== null && (
          <div className="bullet-limit" style={{ left: x(config.alertMin) }} title={`alert below ${config.alertMin}`} />
        )}
        {config.alertMax !== null && (
          <div className="bullet-limit" style={{ left: x(config.alertMax) }} title={`alert above ${config.alertMax}`} />
        )}
        {value !== null && <div className={`bullet-value ${where}`} style={{ width: x(value) }} />}
      </div>
    </div>
  );
}
