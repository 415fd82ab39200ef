// The device configuration editor: validated here and by the service; operators only. A draft can be tried on
// the device's last 7 days first (the backtest): what it would have raised shows on the history chart.
import { useState, type FormEvent } from "react";
import { toast } from "react-toastify";
import { useBacktest, useSaveConfig } from "../api/mutations";
import type { Backtest, Device } from "../api/types";
import { canOperate, session, showError } from "../state/app";
import { checkConfig, CONFIG_FIELDS, toForm, type ConfigForm } from "../state/config";
import { useStore } from "../state/store";

interface Props {
  device: Device;
  /** A backtest of the draft (null: none shown). */
  onPreview?: (preview: Backtest | null) => void;
}

export function ConfigEditor({ device, onPreview }: Props) {
  const operator = canOperate(useStore(session, (s) => s));
  // Until the operator edits a field the form shows the device's current configuration (which may change
  // under it); from the first edit on, it shows the draft.
  const [draft, setDraft] = useState<ConfigForm | null>(null);
  const form = draft ?? toForm(device.config);
  const touched = draft !== null;
  const save = useSaveConfig(device.deviceId);
  const saving = save.isPending;
  const backtest = useBacktest(device.deviceId);
  const [preview, setPreview] = useState<Backtest | null>(null);
  const showPreview = (next: Backtest | null) => {
    setPreview(next);
    onPreview?.(next);
  };

  const { body, problems } = checkConfig(form, device.config);
  const changed = Object.keys(body).length > 0;
  const valid = Object.keys(problems).length === 0;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!valid || !changed) return;
    try {
      await save.mutateAsync(body);
      toast.success(`Saved ${device.deviceId}'s configuration; the rules use it within seconds.`);
      setDraft(null);
      showPreview(null);
    } catch (error) {
      showError(error, "Saving the configuration");
    }
  };

  const tryDraft = async () => {
    try {
      showPreview(await backtest.mutateAsync(body));
    } catch (error) {
      showError(error, "Trying the configuration");
    }
  };

  return (
    <form className="form config-form" onSubmit={submit} aria-label="Device configuration">
      <fieldset disabled={!operator || saving}>
        <div className="config-grid">
          {CONFIG_FIELDS.map((field) => (
            <label key={field.key} title={field.hint}>
              {field.label}
              <input
                name={field.key}
                inputMode="decimal"
                value={form[field.key]}
                aria-invalid={problems[field.key] ? true : undefined}
                aria-describedby={problems[field.key] ? `${field.key}-problem` : undefined}
                onChange={(e) => setDraft({ ...form, [field.key]: e.target.value })}
              />
              {problems[field.key] && (
                <span className="problem small" id={`${field.key}-problem`}>
                  {problems[field.key]}
                </span>
              )}
            </label>
          ))}
        </div>
      </fieldset>
      {operator ? (
        <div className="buttons">
          <button
            type="button"
            className="ghost"
            disabled={!touched}
            onClick={() => {
              setDraft(null);
              showPreview(null);
            }}
          >
            Reset
          </button>
          <button type="button" className="ghost" disabled={!valid || backtest.isPending} onClick={tryDraft}>
            {backtest.isPending ? "Trying…" : "Try on the last 7 days"}
          </button>
          <button type="submit" disabled={!valid || !changed || saving}>
            {saving ? "Saving…" : "Save configuration"}
          </button>
        </div>
      ) : (
        <p className="muted small">Read-only: log in as an operator to change the configuration.</p>
      )}
      {preview && <PreviewSummary preview={preview} />}
    </form>
  );
}

/** "Would have fired 3 times in the last 7 days", by type, over how many readings. */
function PreviewSummary({ preview }: { preview: Backtest }) {
  const types = Object.entries(preview.perType);
  return (
    <p className="small" role="status" data-testid="backtest-summary">
      With this configuration the rules would have fired{" "}
      <strong>
        {preview.alertCount} {preview.alertCount === 1 ? "time" : "times"}
      </strong>{" "}
      in the last 7 days
      {types.length > 0 && ` (${types.map(([type, n]) => `${n} ${type.replaceAll("_", " ")}`).join(", ")})`}, over{" "}
      {preview.readings.toLocaleString()} readings; marked on the history chart.
    </p>
  );
}
