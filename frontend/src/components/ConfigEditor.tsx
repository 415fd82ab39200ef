// The device configuration editor: validated here and by the service; operators only.
import { useState, type FormEvent } from "react";
import { toast } from "react-toastify";
import { useSaveConfig } from "../api/mutations";
import type { Device } from "../api/types";
import { canOperate, session, showError } from "../state/app";
import { checkConfig, CONFIG_FIELDS, toForm, type ConfigForm } from "../state/config";
import { useStore } from "../state/store";

export function ConfigEditor({ device }: { device: Device }) {
  const operator = canOperate(useStore(session, (s) => s));
  // Until the operator edits a field the form shows the device's current configuration (which may change
  // under it); from the first edit on, it shows the draft.
  const [draft, setDraft] = useState<ConfigForm | null>(null);
  const form = draft ?? toForm(device.config);
  const touched = draft !== null;
  const save = useSaveConfig(device.deviceId);
  const saving = save.isPending;

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
    } catch (error) {
      showError(error, "Saving the configuration");
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
          <button type="button" className="ghost" disabled={!touched} onClick={() => setDraft(null)}>
            Reset
          </button>
          <button type="submit" disabled={!valid || !changed || saving}>
            {saving ? "Saving…" : "Save configuration"}
          </button>
        </div>
      ) : (
        <p className="muted small">Read-only: log in as an operator to change the configuration.</p>
      )}
    </form>
  );
}
