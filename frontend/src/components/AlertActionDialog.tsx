// Confirm an acknowledge or resolve, with an optional note.
import { useState, type FormEvent } from "react";
import { toast } from "react-toastify";
import { useAlertAction } from "../api/mutations";
import type { Alert } from "../api/types";
import { showError } from "../state/app";
import type { ActionKind } from "../state/outbox";
import { titleCase } from "../util/format";
import { Modal } from "./Modal";

export function AlertActionDialog({ alert, kind, onDone }: { alert: Alert; kind: ActionKind; onDone(): void }) {
  const [note, setNote] = useState("");
  const action = useAlertAction();
  const verb = kind === "acknowledge" ? "Acknowledge" : "Resolve";

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const outcome = await action.mutateAsync({ alertId: alert.id, kind, note: note.trim() });
      if (outcome === "queued") toast.info(`${verb} of ${alert.id} queued: it is sent when the service is back.`);
      else toast.success(`${alert.id} ${kind === "acknowledge" ? "acknowledged" : "resolved"}.`);
    } catch (error) {
      showError(error, `${verb} ${alert.id}`);
    } finally {
      onDone();
    }
  };

  return (
    <Modal title={`${verb} ${alert.id}?`} onClose={onDone}>
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
          <button type="button" className="ghost" onClick={() => onDone()}>
            Cancel
          </button>
          <button type="submit" disabled={action.isPending}>
            {action.isPending ? "Sending…" : verb}
          </button>
        </div>
      </form>
    </Modal>
  );
}
