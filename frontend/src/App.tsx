import { useQueryClient } from "@tanstack/react-query";
import { useEffect, type ReactNode } from "react";
import { BrowserRouter, Route, Routes } from "react-router-dom";
import { toast, ToastContainer } from "react-toastify";
import { syncQueryCache } from "./api/cacheSync";
import type { AlertEvent } from "./api/types";
import { Layout } from "./components/Layout";
import { ViewBoundary } from "./components/ViewBoundary";
import { connectLive } from "./live/socket";
import { preferences, session } from "./state/app";
import { useStore } from "./state/store";
import { formatValue, titleCase } from "./util/format";
import { beep } from "./util/sound";
import { AlertsView } from "./views/AlertsView";
import { AnalyticsView } from "./views/AnalyticsView";
import { DeviceView } from "./views/DeviceView";
import { KeysView } from "./views/KeysView";
import { NotFound } from "./views/NotFound";
import { OverviewView } from "./views/OverviewView";

const TOAST_KIND = { critical: toast.error, high: toast.error, medium: toast.warn, low: toast.info } as const;

/** New and escalated alerts as toasts (not replays, acknowledgements or resolutions). */
function announce(event: AlertEvent, resolved: boolean): void {
  if (resolved || event.replayed || (event.action && event.action !== "triggered" && event.action !== "escalated"))
    return;
  const verb = event.action === "escalated" ? "escalated" : "new";
  const show = TOAST_KIND[event.severity] ?? toast.info;
  show(
    `${titleCase(event.severity)} ${verb}: ${event.deviceId} ${titleCase(event.type)} ${formatValue(event.value, null, 2)} — ${event.message}`,
    {
      toastId: `${event.alertId}-${event.action ?? "triggered"}`,
    },
  );
  if (preferences.get().sound) beep(event.severity);
}

/** A view inside its own error boundary: when it throws, the layout and navigation stay. */
const guarded = (view: ReactNode) => <ViewBoundary>{view}</ViewBoundary>;

export function App() {
  const token = useStore(session, (s) => s?.token ?? null);
  const theme = useStore(preferences, (p) => p.theme);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);

  useEffect(() => connectLive(token, { onAlert: announce }), [token]);

  const queryClient = useQueryClient();
  useEffect(() => syncQueryCache(queryClient), [queryClient]);

  return (
    <BrowserRouter>
      <Layout>
        <Routes>
          <Route path="/" element={guarded(<OverviewView />)} />
          <Route path="/devices/:deviceId" element={guarded(<DeviceView />)} />
          <Route path="/alerts" element={guarded(<AlertsView />)} />
          <Route path="/analytics" element={guarded(<AnalyticsView />)} />
          <Route path="/keys" element={guarded(<KeysView />)} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </Layout>
      <ToastContainer position="bottom-right" theme={theme} newestOnTop limit={5} />
    </BrowserRouter>
  );
}
