// The overview's first page of the fleet, asked for while the rest of the bundle is still being evaluated:
// main.tsx imports this module first, so the request leaves before React and the views are set up and render and
// their effects ask (300–500 ms of a busy machine's first view, during which the service would hear nothing), and
// the query cache is handed the answer as the overview's own query (seedFirstView).
import type { QueryClient } from "@tanstack/react-query";
import {
  fetchFleet,
  FLEET_PAGE_SIZE,
  fleetFilters,
  fleetQuery,
  type FleetFilters,
  type FleetPage,
} from "./api/queries";
import "./state/app"; // the stored session and its renewal first: the request is the user's, as any other

let first: { filters: FleetFilters; answer: Promise<FleetPage> } | null = null;
if (location.pathname === "/") {
  const filters = fleetFilters(new URLSearchParams(location.search));
  first = { filters, answer: fetchFleet(filters, 0, FLEET_PAGE_SIZE) };
}

/** Put the request already under way in the cache as the overview's first page (nothing on other pages). A retry
 * after a failure asks anew, as the query would. */
export function seedFirstView(client: QueryClient): void {
  if (!first) return;
  const { filters } = first;
  let answer: Promise<FleetPage> | null = first.answer;
  first = null;
  void client.prefetchQuery({
    queryKey: fleetQuery(filters, 0, FLEET_PAGE_SIZE).queryKey,
    queryFn: () => {
      const pending = answer ?? fetchFleet(filters, 0, FLEET_PAGE_SIZE);
      answer = null;
      return pending;
    },
  });
}
