// Confirm an acknowledge or resolve, with an optional note.
import { useState, type FormEvent } from "react";
import { toast } from "react-toastify";
import type { Alert } from "../api/types";
import { alertAction, showError } from "../state/app";
import type { ActionKind } from "../state/outbox";
import { titleCase } from "../util/format";
import { Modal } from "./Modal";

export function AlertActionDialog({
  alert,
  kind,
  onDone,
}: {
  alert: Alert;
  kind: ActionKind;
  onDone(sent: boolean): void;
}) {
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const verb = kind === "acknowledge" ? "Acknowledge" : "Resolve";

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      const outcome = await alertAction(alert.id, kind, note.trim());
      if (outcome === "queued") toast.info(`${verb} of ${alert.id} queued: it is sent when the service is back.`);
      else toast.success(`${alert.id} ${kind === "acknowledge" ? "acknowledged" : "resolved"}.`);
      onDone(true);
    } catch (error) {
      showError(error, `${verb} ${alert.id}`);
      onDone(false);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={`${verb} ${alert.id}?`} onClose={() => onDone(false)}>
      <form className="form" onSubmit={submit}>
        <p>
          <span className={`pill ${alert.severity}`}>{alert.severity}</span> {alert.deviceId} · {titleCase(alert.type)}
        </p>
        <p className="muted">{alert.message}</p>
        <label>
          Note (optional)
          <textarea
            name="note"
            rows={3}
            maxLength={1000}
            value={note}
            onChange={(e) => setNote(e.target.value)}
            placeholder="What was done, who is on it…"
          />
        </label>
        <div className="buttons">
          <button type="button" className="ghost" onClick={() => onDone(false)}>
            Cancel
          </button>
          <button type="submit" disabled={busy}>
            {busy ? "Sending…" : verb}
          </button>
        </div>
      </form>
    </Modal>
  );
}
