// The device configuration form: text fields in, a validated PUT body or the problems out (pure).
import { LIMITS, type DeviceConfig } from "../api/types";

type Key = keyof typeof LIMITS.ConfigUpdate & keyof DeviceConfig;

/** The bounds the service checks (minimum, exclusiveMinimum, maximum, integer, nullable), from its contract. */
interface Limits {
  integer?: boolean;
  nullable?: boolean;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
}

export interface ConfigField {
  key: Key;
  label: string;
  hint: string;
  limits: Limits;
}

const field = (key: Key, label: string, hint: string): ConfigField => ({
  key,
  label,
  hint,
  limits: LIMITS.ConfigUpdate[key],
});

export const CONFIG_FIELDS: ConfigField[] = [
  field("alertMin", "Alert below", "An alert opens under this value (empty: none)"),
  field("normalMin", "Normal from", "Lower end of the normal range"),
  field("normalMax", "Normal to", "Upper end of the normal range"),
  field("alertMax", "Alert above", "An alert opens over this value (empty: none)"),
  field("breachCount", "Breaches before alert", "Readings past a limit in a row before an alert (1: at once)"),
  field("breachForS", "Breach lasts (s)", "Seconds a breach must last before an alert (0: at once)"),
  field("clearAfterS", "Clear after (s)", "Seconds back in range before auto-resolve"),
  field("hysteresisPct", "Hysteresis (%)", "How far back inside the limit counts as clear"),
  field("anomalySensitivity", "Anomaly sensitivity", "Robust z-score (MAD) that counts as an anomaly"),
  field("trendHorizonS", "Trend horizon (s)", "Warn when the trend crosses a limit within this"),
  field("trendWindowS", "Trend window (s)", "Seconds of readings the trend follows (empty: 60 reporting periods)"),
  field("physicalMin", "Physical minimum", "The lowest value the sensor can give (empty: from its unit)"),
  field("physicalMax", "Physical maximum", "The highest value the sensor can give (empty: from its unit)"),
  field("offlineTimeoutS", "Offline after (s)", "Silence before the device counts as offline"),
];

export type ConfigForm = Record<keyof DeviceConfig, string>;

export function toForm(config: DeviceConfig): ConfigForm {
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [key, value === null ? "" : String(value)]),
  ) as ConfigForm;
}

export interface ConfigCheck {
  body: Partial<DeviceConfig>; // only the changed fields
  problems: Partial<Record<keyof DeviceConfig, string>>;
}

export function checkConfig(form: ConfigForm, current: DeviceConfig): ConfigCheck {
  const values: Partial<Record<keyof DeviceConfig, number | null>> = {};
  const problems: ConfigCheck["problems"] = {};
  for (const field of CONFIG_FIELDS) {
    const text = (form[field.key] ?? "").trim();
    if (text === "") {
      if (field.limits.nullable) values[field.key] = null;
      else problems[field.key] = "required";
      continue;
    }
    const value = Number(text);
    const problem = outOfLimits(value, field.limits);
    if (problem) problems[field.key] = problem;
    else values[field.key] = value;
  }
  // The service's rule: alertMin < normalMin < normalMax < alertMax, for the limits that are set.
  const order: (keyof DeviceConfig)[] = ["alertMin", "normalMin", "normalMax", "alertMax"];
  const set = order.filter((key) => typeof values[key] === "number");
  for (let i = 1; i < set.length; i++) {
    if ((values[set[i]] as number) <= (values[set[i - 1]] as number))
      problems[set[i]] ??= `must be above ${labelOf(set[i - 1])}`;
  }
  const body: Partial<DeviceConfig> = {};
  for (const [key, value] of Object.entries(values) as [keyof DeviceConfig, number | null][]) {
    if (value !== current[key]) (body as Record<string, number | null>)[key] = value;
  }
  return { body, problems };
}

/** What is wrong with a number, by the contract's limits; null when nothing. */
export function outOfLimits(value: number, limits: Limits): string | null {
  if (!Number.isFinite(value)) return "not a number";
  if (limits.integer && !Number.isInteger(value)) return "a whole number";
  if (limits.minimum !== undefined && value < limits.minimum) return `at least ${limits.minimum}`;
  if (limits.exclusiveMinimum !== undefined && value <= limits.exclusiveMinimum)
    return `more than ${limits.exclusiveMinimum}`;
  if (limits.maximum !== undefined && value > limits.maximum) return `at most ${limits.maximum}`;
  return null;
}

const labelOf = (key: keyof DeviceConfig) => CONFIG_FIELDS.find((f) => f.key === key)?.label.toLowerCase() ?? key;
