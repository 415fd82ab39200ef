// Besides the views' own writes, three things make cached server state stale: a change to the open alerts
// heard live (Socket.IO, the catch-up after a reconnect, a queued action sent), the service coming back
// after an outage, and logging in or out. This tells the query cache about each.
import type { QueryClient } from "@tanstack/react-query";
import { live, session } from "../state/app";
import type { LiveState } from "../state/live";
import { queryKeys } from "./queries";

// The same condition as the offline banner's.
const isOffline = (state: LiveState) => state.connection === "offline" || !state.reachable;

/** Start following the live store and the session; returns a function that stops. */
export function syncQueryCache(client: QueryClient): () => void {
  let { alerts } = live.get();
  let offline = isOffline(live.get());
  const stopLive = live.subscribe(() => {
    const state = live.get();
    if (offline && !isOffline(state)) {
      // Back online: the queries on screen gave up retrying during the outage.
      void client.invalidateQueries();
    } else if (state.alerts !== alerts) {
      void client.invalidateQueries({ queryKey: queryKeys.alerts });
      void client.invalidateQueries({ queryKey: queryKeys.summaries });
    }
    alerts = state.alerts;
    offline = isOffline(state);
  });
  // What the service shows may depend on who is logged in (IOTMON_ANONYMOUS_READ=false answers 401).
  const stopSession = session.subscribe(() => void client.invalidateQueries());
  return () => {
    stopLive();
    stopSession();
  };
}
