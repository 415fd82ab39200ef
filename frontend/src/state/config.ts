// The device configuration form: text fields in, a validated PUT body or the problems out (pure).
import type { DeviceConfig } from "../api/types";

export interface ConfigField {
  key: keyof DeviceConfig;
  label: string;
  integer?: boolean;
  nullable?: boolean;
  min?: number;
  max?: number;
  hint: string;
}

export const CONFIG_FIELDS: ConfigField[] = [
  { key: "alertMin", label: "Alert below", nullable: true, hint: "An alert opens under this value (empty: none)" },
  { key: "normalMin", label: "Normal from", nullable: true, hint: "Lower end of the normal range" },
  { key: "normalMax", label: "Normal to", nullable: true, hint: "Upper end of the normal range" },
  { key: "alertMax", label: "Alert above", nullable: true, hint: "An alert opens over this value (empty: none)" },
  {
    key: "breachCount",
    label: "Breaches before alert",
    integer: true,
    min: 1,
    max: 10000,
    hint: "Consecutive readings past a threshold",
  },
  {
    key: "clearAfterS",
    label: "Clear after (s)",
    integer: true,
    min: 0,
    max: 604800,
    hint: "Seconds back in range before auto-resolve",
  },
  {
    key: "hysteresisPct",
    label: "Hysteresis (%)",
    min: 0,
    max: 100,
    hint: "How far back inside the limit counts as clear",
  },
  {
    key: "anomalySensitivity",
    label: "Anomaly sensitivity",
    min: 0,
    max: 100,
    hint: "Robust z-score (MAD) that counts as an anomaly",
  },
  {
    key: "trendHorizonS",
    label: "Trend horizon (s)",
    integer: true,
    min: 1,
    max: 604800,
    hint: "Warn when the trend crosses a limit within this",
  },
  {
    key: "offlineTimeoutS",
    label: "Offline after (s)",
    integer: true,
    min: 1,
    max: 604800,
    hint: "Silence before the device counts as offline",
  },
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
      if (field.nullable) values[field.key] = null;
      else problems[field.key] = "required";
      continue;
    }
    const value = Number(text);
    if (!Number.isFinite(value)) problems[field.key] = "not a number";
    else if (field.integer && !Number.isInteger(value)) problems[field.key] = "a whole number";
    else if (field.min !== undefined && value < field.min) problems[field.key] = `at least ${field.min}`;
    else if (field.max !== undefined && value > field.max) problems[field.key] = `at most ${field.max}`;
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

const labelOf = (key: keyof DeviceConfig) => CONFIG_FIELDS.find((f) => f.key === key)?.label.toLowerCase() ?? key;
