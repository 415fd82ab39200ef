// The fleet on the overview: the counts per state, the groups (locations) with their worst state, and the
// device list — searched and filtered on the service, virtualised here (only the rows in view are in the DOM,
// and only the pages in view are fetched: one request or a few, whatever the fleet's size).
import { keepPreviousData, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router-dom";
import {
  deviceQuery,
  FLEET_PAGE_SIZE as PAGE_SIZE,
  fleetQuery,
  queryKeys,
  type FleetFilters,
  type FleetPage,
} from "../api/queries";
import type { FleetCounts, FleetDevice, FleetGroup, FleetState } from "../api/types";
import { fleetLive } from "../state/app";
import { FLEET_STATES, withChange } from "../state/fleet";
import { useStore } from "../state/store";
import { formatAgo, formatValue, titleCase, unitLabel } from "../util/format";
import { Notice } from "./Notice";
import { loadPlotly, prefetchPlotly } from "./Plot";

/** Pointing at a device starts loading what its page needs first (its details and the charts' code), so that
 * by the click they are on their way. */
function usePrefetchDevice(deviceId: string | undefined): () => void {
  const queryClient = useQueryClient();
  return () => {
    if (!deviceId) return;
    void loadPlotly();
    void queryClient.prefetchQuery(deviceQuery(deviceId));
  };
}

export const ROW_HEIGHT = 44; // px, every row
const LIST_HEIGHT = 480; // px, the list's box
const REFRESH_MS = 15_000; // the values in the pages in view; states change live in between
const SEARCH_DELAY_MS = 250;
const PREFETCH_WITHIN_MS = 5_000; // the charts' code is fetched when the browser is idle, or after this at the latest

/** Run `work` when the browser has nothing else to do; returns a function that cancels it. */
function whenIdle(work: () => void): () => void {
  if (typeof requestIdleCallback !== "function") {
    const timer = setTimeout(work, PREFETCH_WITHIN_MS);
    return () => clearTimeout(timer);
  }
  const id = requestIdleCallback(work, { timeout: PREFETCH_WITHIN_MS });
  return () => cancelIdleCallback(id);
}

export const NO_FILTERS: FleetFilters = { q: "", status: "", type: "", location: "" };

const STATE_LABEL: Record<FleetState, string> = {
  critical: "Critical",
  offline: "Offline",
  warning: "Warning",
  normal: "Normal",
};

export function StatePill({ state }: { state: FleetState }) {
  return <span className={`pill state-${state}`}>{STATE_LABEL[state]}</span>;
}

/** The counts per state as buttons that filter the list by that state. */
function StateCounts({ totals, active, onPick }: { totals: FleetCounts; active: string; onPick(state: string): void }) {
  return (
    <div className="state-counts" role="group" aria-label="Devices by state">
      {FLEET_STATES.map((state) => (
        <button
          key={state}
          type="button"
          className={`state-count state-${state}`}
          aria-pressed={active === state}
          onClick={() => onPick(active === state ? "" : state)}
        >
          <span className="state-count-value" data-testid={`count-${state}`}>
            {totals[state]}
          </span>
          <span className="state-count-label">{STATE_LABEL[state]}</span>
        </button>
      ))}
    </div>
  );
}

/** One tile per location, the worst first: its worst state, how many of each, a bar of the shares. */
export function FleetGroups({
  groups,
  active,
  onPick,
}: {
  groups: FleetGroup[];
  active: string;
  onPick(location: string): void;
}) {
  return (
    <ul className="fleet-groups" aria-label="Locations">
      {groups.map((group) => (
        <li key={group.location}>
          <button
            type="button"
            className={`fleet-group worst-${group.worst}`}
            aria-pressed={active === group.location}
            data-location={group.location}
            onClick={() => onPick(active === group.location ? "" : group.location)}
          >
            <span className="fleet-group-head">
              <span className="fleet-group-name">{group.location}</span>
              <StatePill state={group.worst} />
            </span>
            <span className="share-bar" aria-hidden="true">
              {FLEET_STATES.map((state) =>
                group[state] ? (
                  <span key={state} className={`share state-${state}`} style={{ flexGrow: group[state] }} />
                ) : null,
              )}
            </span>
            <span className="muted small">
              {group.total} devices
              {FLEET_STATES.filter((s) => s !== "normal" && group[s]).map((s) => ` · ${group[s]} ${s}`)}
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function FleetRow({ device, top }: { device: FleetDevice | undefined; top: number }) {
  const style = { transform: `translateY(${top}px)`, height: ROW_HEIGHT };
  const prefetch = usePrefetchDevice(device?.deviceId);
  if (!device)
    return (
      <div className="fleet-row is-loading" style={style} role="row" aria-busy="true">
        <span className="muted">…</span>
      </div>
    );
  return (
    <div className={`fleet-row state-${device.state}`} style={style} role="row" data-fleet-device={device.deviceId}>
      <span role="cell">
        <StatePill state={device.state} />
      </span>
      <span role="cell" className="fleet-name">
        <Link to={`/devices/${encodeURIComponent(device.deviceId)}`} onPointerEnter={prefetch} onFocus={prefetch}>
          {device.deviceId}
        </Link>{" "}
        <span className="muted small">{device.name ?? ""}</span>
      </span>
      <span role="cell" className="muted">
        {titleCase(device.type)}
      </span>
      <span role="cell" className="muted">
        {device.location}
      </span>
      <span role="cell" className="fleet-value" data-testid="fleet-value">
        {formatValue(device.value, null, 2)} <span className="unit">{unitLabel(device.unit)}</span>
      </span>
      <span role="cell" className="muted small">
        {device.alertStatus !== "normal" ? (
          <span className={`pill ${device.alertStatus}`}>{device.alertStatus}</span>
        ) : null}{" "}
        {device.timestamp ? formatAgo(device.timestamp) : "never"}
      </span>
    </div>
  );
}

/** The list's rows: the pages the rows in view fall on, fetched as they come into view, with the live changes. */
export function FleetList({ filters, first }: { filters: FleetFilters; first: FleetPage }) {
  const box = useRef<HTMLDivElement>(null);
  // The virtualizer re-renders this component as it scrolls; nothing here is memoized by a compiler.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: first.matched,
    getScrollElement: () => box.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    initialRect: { width: 800, height: LIST_HEIGHT },
  });
  const items = virtualizer.getVirtualItems();
  const firstPage = items.length ? Math.floor(items[0].index / PAGE_SIZE) : 0;
  const lastPage = items.length ? Math.floor(items[items.length - 1].index / PAGE_SIZE) : 0;
  const pageNumbers = useMemo(() => {
    const numbers: number[] = [];
    for (let page = Math.max(firstPage, 1); page <= lastPage; page++) numbers.push(page);
    return numbers;
  }, [firstPage, lastPage]);
  const pages = useQueries({
    queries: pageNumbers.map((page) => ({
      ...fleetQuery(filters, page * PAGE_SIZE, PAGE_SIZE),
      refetchInterval: REFRESH_MS,
    })),
  });
  const changes = useStore(fleetLive, (s) => s.changes);
  const rowAt = (index: number): FleetDevice | undefined => {
    const page = Math.floor(index / PAGE_SIZE);
    const found = page === 0 ? first : pages[pageNumbers.indexOf(page)]?.data;
    const device = found?.devices[index - page * PAGE_SIZE];
    return device && withChange(device, changes[device.deviceId]);
  };

  useEffect(() => {
    box.current?.scrollTo?.({ top: 0 }); // a new search starts at the top
  }, [filters]);

  return (
    <div className="fleet-list" role="table" aria-label="Devices" aria-rowcount={first.matched}>
      <div className="fleet-row fleet-header" role="row">
        <span role="columnheader">State</span>
        <span role="columnheader">Device</span>
        <span role="columnheader">Type</span>
        <span role="columnheader">Location</span>
        <span role="columnheader">Value</span>
        <span role="columnheader">Updated</span>
      </div>
      <div ref={box} className="fleet-scroll" style={{ maxHeight: LIST_HEIGHT }} data-testid="fleet-scroll">
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }} role="rowgroup">
          {items.map((item) => (
            <FleetRow key={item.key} device={rowAt(item.index)} top={item.start} />
          ))}
        </div>
      </div>
    </div>
  );
}

function FleetFiltersForm({
  filters,
  types,
  locations,
  onChange,
}: {
  filters: FleetFilters;
  types: string[];
  locations: string[];
  onChange(filters: FleetFilters): void;
}) {
  const [text, setText] = useState(filters.q);
  useEffect(() => setText(filters.q), [filters.q]);
  useEffect(() => {
    if (text === filters.q) return;
    const timer = setTimeout(() => onChange({ ...filters, q: text }), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text, filters, onChange]);
  const select = (name: keyof FleetFilters, label: string, options: [string, string][]) => (
    <label>
      {label}
      <select name={name} value={filters[name]} onChange={(e) => onChange({ ...filters, [name]: e.target.value })}>
        <option value="">Any</option>
        {options.map(([value, shown]) => (
          <option key={value} value={value}>
            {shown}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <form
      className="filters fleet-filters"
      aria-label="Device search"
      role="search"
      onSubmit={(e) => e.preventDefault()}
    >
      <label className="fleet-search">
        Search
        <input
          type="search"
          name="q"
          value={text}
          placeholder="id, name, type or location"
          maxLength={100}
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      {select(
        "status",
        "State",
        FLEET_STATES.map((s): [string, string] => [s, STATE_LABEL[s]]),
      )}
      {select(
        "type",
        "Type",
        types.map((t): [string, string] => [t, titleCase(t)]),
      )}
      {select(
        "location",
        "Location",
        locations.map((l): [string, string] => [l, l]),
      )}
    </form>
  );
}

/** The fleet section of the overview: counts, groups, search and filters, the list; live while shown. */
export function FleetOverview({ filters, onFilters }: { filters: FleetFilters; onFilters(f: FleetFilters): void }) {
  const client = useQueryClient();
  const head = useQuery({
    ...fleetQuery(filters, 0, PAGE_SIZE),
    placeholderData: keepPreviousData,
    refetchInterval: REFRESH_MS,
  });
  const heard = useStore(fleetLive, (s) => s);
  const resyncs = heard.resyncs;
  useEffect(() => {
    if (resyncs) client.invalidateQueries({ queryKey: queryKeys.fleets }).catch(() => undefined);
  }, [resyncs, client]);
  const page = head.data;
  // The counts and groups as last heard, else as fetched (whichever is newer).
  const live = heard.heardAt && page && heard.heardAt >= page.computedAt;
  const totals = (live ? heard.totals : null) ?? page?.totals;
  const groups = useMemo(() => (live ? heard.groups : null) ?? page?.groups ?? [], [live, heard.groups, page]);
  const locations = useMemo(() => groups.map((g) => g.location).sort(), [groups]);
  // From the list, the next step is a device's page: its charts' code is fetched ahead once the list is on screen.
  const shown = page !== undefined;
  useEffect(() => (shown ? whenIdle(prefetchPlotly) : undefined), [shown]);

  return (
    <section className="card fleet" aria-label="Fleet">
      <header className="card-header">
        <h2>Fleet</h2>
        <span className="muted small">
          {totals ? `${totals.total} devices · ${totals.total - totals.offline} online` : ""}
        </span>
      </header>
      <Notice loading={head.isPending} error={head.error} />
      {totals && (
        <StateCounts totals={totals} active={filters.status} onPick={(status) => onFilters({ ...filters, status })} />
      )}
      {groups.length > 1 && (
        <FleetGroups
          groups={groups}
          active={filters.location}
          onPick={(location) => onFilters({ ...filters, location })}
        />
      )}
      <FleetFiltersForm filters={filters} types={page?.types ?? []} locations={locations} onChange={onFilters} />
      {page && (
        <>
          <p className="muted small" aria-live="polite" data-testid="fleet-matched">
            {page.matched === totals?.total
              ? `${page.matched} devices, the worst first`
              : `${page.matched} of ${totals?.total ?? "?"} devices match, the worst first`}
          </p>
          <FleetList filters={filters} first={page} />
        </>
      )}
    </section>
  );
}
