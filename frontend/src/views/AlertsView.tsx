// Alerts (`/alerts`): the open alerts with filters and actions, history, analytics, silences.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { Data } from "plotly.js";
import { useMemo, useState, type FormEvent } from "react";
import { toast } from "react-toastify";
import { useCreateSilence, useEndSilence } from "../api/mutations";
import {
  alertHistoryQuery,
  alertsQuery,
  silencesQuery,
  summaryQuery,
  SUMMARY_DAYS,
  type AlertFilters,
  type AlertPage,
} from "../api/queries";
import { SEVERITIES_DOWN, type Severity, type Silence, type Summary } from "../api/types";
import { AlertsTable } from "../components/AlertsTable";
import { ChartCard } from "../components/ChartCard";
import { Notice } from "../components/Notice";
import { canOperate, live, session, showError } from "../state/app";
import { useStore } from "../state/store";
import { formatCount, formatDuration, formatTime, titleCase } from "../util/format";
import {
  alertTypes,
  countByDay,
  countByTypeFromSummary,
  daysBetween,
  SEVERITY_COLORS,
  shortDay,
} from "./alertAnalytics";

function FilterBar({
  filters,
  onChange,
  devices,
  types,
}: {
  filters: AlertFilters;
  onChange(f: AlertFilters): void;
  devices: string[];
  types: string[];
}) {
  const select = (name: keyof AlertFilters, label: string, options: [string, string][]) => (
    <label>
      {label}
      <select name={name} value={filters[name]} onChange={(e) => onChange({ ...filters, [name]: e.target.value })}>
        {options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <form className="filters card" aria-label="Alert filters" onSubmit={(e) => e.preventDefault()}>
      {select("status", "Status", [
        ["open", "Open"],
        ["triggered", "Triggered"],
        ["acknowledged", "Acknowledged"],
        ["escalated", "Escalated"],
        ["resolved", "Resolved"],
        ["all", "All"],
      ])}
      {select("severity", "Severity", [
        ["", "Any"],
        ...SEVERITIES_DOWN.map((s): [string, string] => [s, titleCase(s)]),
      ])}
      {select("deviceId", "Device", [["", "Any"], ...devices.map((d): [string, string] => [d, d])])}
      {select("type", "Type", [["", "Any"], ...types.map((t): [string, string] => [t, titleCase(t)])])}
    </form>
  );
}

/**
 * Counts and response times of the last SUMMARY_DAYS UTC days. The service's summary covers every alert of
 * those days; the severity chart has only the history page (newest first, at most one page), and says so
 * when that page does not hold them all.
 */
function AlertAnalytics({ summary, history }: { summary: Summary | undefined; history: AlertPage | undefined }) {
  const days = useMemo(() => (summary ? daysBetween(summary.from, summary.to) : []), [summary]);
  const bySeverity = useMemo(() => countByDay(history?.alerts ?? [], days, (a) => a.severity), [history, days]);
  const byType = useMemo(() => (summary ? countByTypeFromSummary(summary, days) : {}), [summary, days]);
  const truncated = history !== undefined && history.total > history.alerts.length;
  const severityData = useMemo<Data[]>(
    () =>
      SEVERITIES_DOWN.filter((s) => bySeverity[s]).map((s) => ({
        x: days,
        y: bySeverity[s],
        type: "bar",
        name: s,
        marker: { color: SEVERITY_COLORS[s as Severity] },
      })),
    [bySeverity, days],
  );
  const typeData = useMemo<Data[]>(
    () => Object.entries(byType).map(([type, y]) => ({ x: days, y, type: "bar", name: titleCase(type) })),
    [byType, days],
  );
  const layout = useMemo(
    () => ({
      barmode: "stack" as const,
      xaxis: { type: "category" as const, tickvals: days, ticktext: days.map(shortDay) },
      yaxis: { title: { text: "alerts" } },
    }),
    [days],
  );
  const table = (counts: Record<string, number[]>) => () => ({
    header: ["group", ...days],
    rows: Object.entries(counts).map(([k, v]) => [k, ...v]),
  });
  return (
    <>
      <section className="kpis card" aria-label="Response times">
        <div className="kpi">
          <span className="kpi-value">{formatCount(summary?.overall.alerts)}</span>
          <span className="kpi-label">alerts, {SUMMARY_DAYS} days</span>
        </div>
        <div className="kpi" title="Mean time to acknowledge, over the alerts of these days that were acknowledged">
          <span className="kpi-value">{formatDuration(summary?.overall.mttaSeconds)}</span>
          <span className="kpi-label">MTTA</span>
        </div>
        <div className="kpi" title="Mean time to resolve, over the alerts of these days that were resolved">
          <span className="kpi-value">{formatDuration(summary?.overall.mttrSeconds)}</span>
          <span className="kpi-label">MTTR</span>
        </div>
      </section>
      <div className="chart-grid">
        <ChartCard
          title="Alerts by severity per day"
          name="alerts-by-severity"
          data={severityData}
          layout={layout}
          height={260}
          csv={table(bySeverity)}
          footer={
            truncated && (
              <p className="muted small" data-testid="severity-truncated">
                Counted from the newest {history.alerts.length} of the {history.total} alerts of these days: the earlier
                days show fewer than there were.
              </p>
            )
          }
        />
        <ChartCard
          title="Alerts by type per day"
          name="alerts-by-type"
          data={typeData}
          layout={layout}
          height={260}
          csv={table(byType)}
          footer={<p className="muted small">Every alert of these days, per UTC day, as the service counts them.</p>}
        />
      </div>
    </>
  );
}

function Silences({ devices }: { devices: string[] }) {
  const operator = canOperate(useStore(session, (s) => s));
  const silences = useQuery(silencesQuery());
  const createSilence = useCreateSilence();
  const endSilence = useEndSilence();
  const [deviceId, setDeviceId] = useState("");
  const [reason, setReason] = useState("");
  const [hours, setHours] = useState("1");

  const create = async (event: FormEvent) => {
    event.preventDefault();
    const endsAt = new Date(Date.now() + Number(hours) * 3600_000).toISOString();
    try {
      await createSilence.mutateAsync({ deviceId: deviceId || null, reason, endsAt });
      toast.success(`Notifications silenced for ${deviceId || "every device"} until ${formatTime(endsAt)}.`);
      setReason("");
    } catch (error) {
      showError(error, "Adding the silence");
    }
  };
  const remove = async (silence: Silence) => {
    try {
      await endSilence.mutateAsync(silence.id);
    } catch (error) {
      showError(error, "Ending the silence");
    }
  };

  return (
    <section className="card" aria-label="Silences">
      <h2>Silences</h2>
      <p className="muted small">During a silence alerts still open and show here, but no email or webhook is sent.</p>
      <Notice
        loading={silences.isPending}
        error={silences.error}
        empty={silences.data?.length === 0 && "No silences."}
      />
      <ul className="silence-list">
        {(silences.data ?? []).map((s) => (
          <li key={s.id}>
            <span>
              <strong>{s.deviceId ?? "Every device"}</strong> · {s.reason}
            </span>
            <span className="muted small">
              {formatTime(s.startsAt, true)} → {formatTime(s.endsAt, true)}
            </span>
            {operator && (
              <button type="button" className="ghost small" onClick={() => remove(s)}>
                End
              </button>
            )}
          </li>
        ))}
      </ul>
      {operator && (
        <form className="form inline" onSubmit={create} aria-label="New silence">
          <label>
            Device
            <select value={deviceId} onChange={(e) => setDeviceId(e.target.value)}>
              <option value="">Every device</option>
              {devices.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
          <label>
            Reason
            <input
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              required
              maxLength={500}
              placeholder="Maintenance"
            />
          </label>
          <label>
            Hours
            <input
              type="number"
              min="0.1"
              max="720"
              step="0.1"
              value={hours}
              onChange={(e) => setHours(e.target.value)}
              required
            />
          </label>
          <button type="submit">Silence</button>
        </form>
      )}
    </section>
  );
}

export function AlertsView() {
  const [filters, setFilters] = useState<AlertFilters>({ status: "open", severity: "", deviceId: "", type: "" });
  const devices = Object.keys(useStore(live, (s) => s.devices)).sort();
  // Live alert changes and actions mark these stale (api/cacheSync, api/mutations); a new filter keeps
  // the current rows on screen until its own answer is there.
  const listed = useQuery({ ...alertsQuery(filters), placeholderData: keepPreviousData });
  const history = useQuery(alertHistoryQuery({ days: SUMMARY_DAYS }));
  const summary = useQuery(summaryQuery(SUMMARY_DAYS));
  const types = useMemo(() => (summary.data ? alertTypes(summary.data) : []), [summary.data]);
  const page = history.data;

  return (
    <div className="alerts-view">
      <h1>Alerts</h1>
      <FilterBar filters={filters} onChange={setFilters} devices={devices} types={types} />
      <Notice error={listed.error} />
      <AlertsTable
        title={filters.status === "open" ? "Open alerts" : "Alerts"}
        name="alerts"
        alerts={listed.data ?? []}
      />
      <Notice error={summary.error ?? history.error} />
      <AlertAnalytics summary={summary.data} history={page} />
      <AlertsTable
        title={
          page && page.total > page.alerts.length
            ? `History (${SUMMARY_DAYS} days, newest ${page.alerts.length} of ${page.total})`
            : `History (${SUMMARY_DAYS} days)`
        }
        name="alert-history"
        alerts={page?.alerts ?? []}
      />
      <Silences devices={devices} />
    </div>
  );
}
