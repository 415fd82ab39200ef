// A table of alerts with the operator's actions and CSV export.
import { useState } from "react";
import { Link } from "react-router-dom";
import type { Alert } from "../api/types";
import { canOperate, session } from "../state/app";
import type { ActionKind } from "../state/outbox";
import { useStore } from "../state/store";
import { formatDuration, formatTime, formatValue, titleCase } from "../util/format";
import { useNow } from "../util/useNow";
import { AlertActionDialog } from "./AlertActionDialog";
import { CsvButton } from "./CsvButton";

const alertsTable = (alerts: Alert[]) => ({
  header: [
    "id",
    "deviceId",
    "type",
    "severity",
    "status",
    "value",
    "threshold",
    "message",
    "triggeredAt",
    "acknowledgedAt",
    "resolvedAt",
  ],
  rows: alerts.map((a) => [
    a.id,
    a.deviceId,
    a.type,
    a.severity,
    a.status,
    a.value,
    a.threshold,
    a.message,
    a.triggeredAt,
    a.acknowledgedAt,
    a.resolvedAt,
  ]),
});

const OPEN_FOR_TICK_MS = 1_000; // "Open for" counts in seconds

interface AlertsTableProps {
  alerts: Alert[];
  title: string;
  name: string;
  showDevice?: boolean;
}

// The lists refresh themselves after an action: the mutation marks the alert queries stale (api/mutations).
export function AlertsTable({ alerts, title, name, showDevice = true }: AlertsTableProps) {
  const operator = canOperate(useStore(session, (s) => s));
  const [pending, setPending] = useState<{ alert: Alert; kind: ActionKind } | null>(null);
  const now = useNow(OPEN_FOR_TICK_MS);

  return (
    <section className="card" aria-label={title}>
      <header className="card-header">
        <h2>
          {title} <span className="muted">({alerts.length})</span>
        </h2>
        <div className="toolbar">
          <CsvButton title={title} name={name} table={() => alertsTable(alerts)} />
        </div>
      </header>
      {alerts.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <div className="table-wrap">
          <table className="alerts-table">
            <thead>
              <tr>
                <th scope="col">Alert</th>
                {showDevice && <th scope="col">Device</th>}
                <th scope="col">Severity</th>
                <th scope="col">Status</th>
                <th scope="col">Value</th>
                <th scope="col">Triggered</th>
                <th scope="col">Open for</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {alerts.map((alert) => {
                const closedAt = alert.resolvedAt ? Date.parse(alert.resolvedAt) : now;
                return (
                  <tr key={alert.id} data-alert={alert.id} className={`sev-${alert.severity}`}>
                    <td>
                      <strong>{titleCase(alert.type)}</strong>
                      <div className="muted small" title={alert.message}>
                        {alert.id} · {alert.message}
                      </div>
                    </td>
                    {showDevice && (
                      <td>
                        <Link to={`/devices/${alert.deviceId}`}>{alert.deviceId}</Link>
                      </td>
                    )}
                    <td>
                      <span className={`pill ${alert.severity}`}>{alert.severity}</span>
                    </td>
                    <td data-testid="alert-status">
                      {titleCase(alert.status)}
                      {alert.acknowledgedBy ? <div className="muted small">by {alert.acknowledgedBy}</div> : null}
                    </td>
                    <td>
                      {formatValue(alert.value, null, 2)}
                      {alert.threshold !== null && (
                        <div className="muted small">limit {formatValue(alert.threshold, null, 2)}</div>
                      )}
                    </td>
                    <td>{formatTime(alert.triggeredAt, true)}</td>
                    <td>{formatDuration((closedAt - Date.parse(alert.triggeredAt)) / 1000)}</td>
                    <td className="actions">
                      {operator && alert.status !== "resolved" && (
                        <>
                          {alert.status !== "acknowledged" && (
                            <button
                              type="button"
                              className="small"
                              onClick={() => setPending({ alert, kind: "acknowledge" })}
                            >
                              Acknowledge
                            </button>
                          )}
                          <button
                            type="button"
                            className="small ghost"
                            onClick={() => setPending({ alert, kind: "resolve" })}
                          >
                            Resolve
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {pending && <AlertActionDialog alert={pending.alert} kind={pending.kind} onDone={() => setPending(null)} />}
    </section>
  );
}
