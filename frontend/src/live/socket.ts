// The Socket.IO connection: subscribe on every (re)connect, replay missed alert changes, feed the live store.
import { io, type Socket } from "socket.io-client";
import type { Ack, AlertEvent, DeviceStatusEvent, FleetStatus, SensorData, SystemStatus } from "../api/types";
import { fleetLive, flushOutbox, live, refreshDevices, refreshOpenAlerts, renewToken } from "../state/app";
import { applyFleetStatus } from "../state/fleet";
import { applyAlertEvent, applyDeviceStatus, applySensorData, isNewAlertChange, type Connection } from "../state/live";

export const LIVE_THROTTLE_MS = 250; // at most four re-renders a second from readings
/** The first REST load waits this long for the socket's subscriptions (then it has no gap); past it, the page fills
 * from REST at once (a proxy that holds WebSockets back), and again after the subscriptions when they come. */
export const FIRST_LOAD_WAIT_MS = 1500;

export interface LiveHandlers {
  onAlert(event: AlertEvent, resolved: boolean): void;
}

// What the views follow: a device's readings (its page, or its card on the overview of a small fleet) and the
// fleet's states (the overview). Counted, so that two views may follow the same; sent again on every reconnect.
const watchedDevices = new Map<string, number>();
let fleetFollowers = 0;
let current: Socket | null = null;

/** Follow a device's readings (`sensor-data`) while the returned function is not called. */
export function watchDevice(deviceId: string): () => void {
  const count = watchedDevices.get(deviceId) ?? 0;
  watchedDevices.set(deviceId, count + 1);
  if (count === 0 && current?.connected) current.emit("subscribe-device", { deviceId });
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = (watchedDevices.get(deviceId) ?? 1) - 1;
    if (left > 0) watchedDevices.set(deviceId, left);
    else {
      watchedDevices.delete(deviceId);
      if (current?.connected) current.emit("unsubscribe-device", { deviceId });
    }
  };
}

/** Follow the fleet's states (`fleet-status`, at most one a second) while the returned function is not called. */
export function watchFleet(): () => void {
  fleetFollowers += 1;
  if (fleetFollowers === 1 && current?.connected) current.emit("subscribe-fleet");
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fleetFollowers -= 1;
    if (fleetFollowers === 0 && current?.connected) current.emit("unsubscribe-fleet");
  };
}

/** Devices and open alerts from the REST API; failures leave the last state. */
function refreshState(): Promise<void> {
  return Promise.allSettled([refreshDevices(), refreshOpenAlerts()]).then(() => undefined);
}

function setConnection(connection: Connection): void {
  live.update((state) => (state.connection === connection ? state : { ...state, connection }));
}

/** Join the alerts room, replaying what was missed after `since`: the service sends a long replay in pages,
 * each Ack saying where the next one starts. `joined` runs once the service has the socket in the room (its first
 * Ack), whatever the Ack says. */
function subscribeAlerts(socket: Socket, since: number | null, joined: () => void): void {
  let told = false;
  socket.emit("subscribe-alerts", since === null ? {} : { since }, (ack: Ack | undefined) => {
    if (!told) joined();
    told = true;
    if (ack?.success && ack.more && ack.nextSince !== undefined) subscribeAlerts(socket, ack.nextSince, () => {});
  });
}

/** Connect with the session's token (or none); returns a function that disconnects. */
export function connectLive(token: string | null, handlers: LiveHandlers): () => void {
  const socket: Socket = io({
    auth: token ? { token } : {},
    transports: ["websocket", "polling"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });

  current = socket;
  // The devices and open alerts come from REST once the alerts room is joined: a change after that is heard live,
  // one before it is in the answer, so nothing falls between them (a load before the subscription would need a
  // second one after it). Where WebSockets are held back, the page does not wait for them past FIRST_LOAD_WAIT_MS.
  const fallback = setTimeout(() => void refreshState(), FIRST_LOAD_WAIT_MS);

  socket.on("connect", () => {
    setConnection("online");
    const { lastSequence } = live.get();
    socket.emit("subscribe-system");
    subscribeAlerts(socket, lastSequence, () => {
      clearTimeout(fallback);
      // Missed readings are not replayed; the REST state catches up, then the watched devices stream again.
      refreshState().then(() =>
        watchedDevices.forEach((_count, deviceId) => socket.emit("subscribe-device", { deviceId })),
      );
    });
    if (fleetFollowers > 0) socket.emit("subscribe-fleet");
    flushOutbox().catch(() => undefined);
  });
  socket.on("disconnect", () => setConnection("offline"));
  socket.on("connect_error", (error: Error & { data?: { code?: string } }) => {
    if (error.data?.code === "TOKEN_EXPIRED") {
      renewToken().catch(() => undefined); // a new token reconnects (App follows the session's token)
      setConnection("offline");
    } else if (!socket.active && error.data?.code) {
      // Refused by the service (it wants a login): not an outage, and no use retrying until the token changes.
      setConnection("refused");
      live.update((state) => ({ ...state, loginRequired: true }));
    } else {
      setConnection("offline");
    }
  });

  socket.on("sensor-data", (event: SensorData) =>
    live.update((state) => applySensorData(state, event), LIVE_THROTTLE_MS),
  );
  const onAlertChange = (event: AlertEvent, resolved: boolean) => {
    if (!isNewAlertChange(live.get(), event)) return; // heard already: no second toast or beep
    live.update((state) => applyAlertEvent(state, event, resolved));
    handlers.onAlert(event, resolved);
  };
  socket.on("alert-triggered", (event: AlertEvent) => onAlertChange(event, false));
  socket.on("alert-resolved", (event: AlertEvent) => onAlertChange(event, true));
  socket.on("device-status", (event: DeviceStatusEvent) =>
    live.update((state) => applyDeviceStatus(state, event.deviceId, event.status === "online")),
  );
  socket.on("system-status", (system: SystemStatus) => live.update((state) => ({ ...state, system })));
  socket.on("fleet-status", (status: FleetStatus) => fleetLive.update((state) => applyFleetStatus(state, status)));

  return () => {
    clearTimeout(fallback);
    if (current === socket) current = null;
    socket.removeAllListeners();
    socket.disconnect();
  };
}
