// The fleet as `fleet-status` tells it: the counts, the groups and the devices whose state changed since the
// REST page was fetched (pure functions; the store is in state/app.ts).
import type { FleetChange, FleetCounts, FleetDevice, FleetGroup, FleetState, FleetStatus } from "../api/types";

export const FLEET_STATES: FleetState[] = ["critical", "offline", "warning", "normal"]; // the worst first

export interface FleetLive {
  totals: FleetCounts | null;
  groups: FleetGroup[] | null;
  changes: Record<string, FleetChange>; // by device, the latest heard
  resyncs: number; // bumped when the service says too much changed to list: refetch
  heardAt: string | null;
}

export const initialFleet: FleetLive = { totals: null, groups: null, changes: {}, resyncs: 0, heardAt: null };

/** At most this many changed devices are remembered; beyond, the pages are refetched anyway. */
export const CHANGES_REMEMBERED = 20_000;

export function applyFleetStatus(state: FleetLive, status: FleetStatus): FleetLive {
  if (state.heardAt && status.timestamp < state.heardAt) return state; // an older sweep, arrived late
  let changes = state.changes;
  if (status.changes.length) {
    changes = { ...state.changes };
    for (const change of status.changes) changes[change.deviceId] = change;
    if (Object.keys(changes).length > CHANGES_REMEMBERED) changes = {};
  }
  return {
    totals: status.totals,
    groups: status.groups,
    changes: status.resync ? {} : changes,
    resyncs: status.resync ? state.resyncs + 1 : state.resyncs,
    heardAt: status.timestamp,
  };
}

/** A device of a REST page with what was heard since: a change newer than the page's reading wins. */
export function withChange(device: FleetDevice, change: FleetChange | undefined): FleetDevice {
  if (!change) return device;
  if (device.timestamp && change.timestamp && change.timestamp < device.timestamp) return device;
  return {
    ...device,
    state: change.state,
    alertStatus: change.alertStatus,
    value: change.value,
    timestamp: change.timestamp,
    status: change.state === "offline" ? "offline" : device.status === "offline" ? "active" : device.status,
  };
}
