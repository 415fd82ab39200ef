import type { AlertEvent } from "../api/types";
import { live } from "../state/app";
import { initialLive } from "../state/live";
import { stubApi } from "../test-api";
import { alertEvent } from "../test-fixtures";
import { connectLive, FIRST_LOAD_WAIT_MS } from "./socket";

// A stand-in socket: the test calls the handlers connectLive registers, and answers what it emits.
const handlers = new Map<string, (payload: unknown) => void>();
type Emitted = { event: string; payload: unknown; ack?: (answer: unknown) => void };
const emitted: Emitted[] = [];
vi.mock("socket.io-client", () => ({
  io: () => ({
    on: (event: string, handler: (payload: unknown) => void) => handlers.set(event, handler),
    emit: (event: string, payload?: unknown, ack?: (answer: unknown) => void) => {
      emitted.push({ event, payload, ack });
    },
    removeAllListeners: () => undefined,
    disconnect: () => undefined,
  }),
}));

describe("alert changes from the socket", () => {
  beforeEach(() => {
    handlers.clear();
    live.update(() => initialLive);
    stubApi({ "/api/devices": { devices: [] }, "/api/alerts": { alerts: [] } });
  });

  it("are applied and announced once, however often they come", () => {
    const onAlert = vi.fn();
    const stop = connectLive(null, { onAlert });
    const triggered = alertEvent({ sequence: 41 });
    const resolved: AlertEvent = { ...triggered, status: "resolved", action: "resolved", sequence: 42 };
    handlers.get("alert-triggered")?.(triggered);
    handlers.get("alert-triggered")?.({ ...triggered, replayed: true }); // the replay after the service lost Redis
    handlers.get("alert-resolved")?.(resolved);
    handlers.get("alert-resolved")?.(resolved); // a retry of the same change
    handlers.get("alert-triggered")?.({ ...triggered, replayed: true }); // late, older than the resolve
    expect(onAlert.mock.calls).toEqual([
      [triggered, false],
      [resolved, true],
    ]);
    expect(live.get().alerts).toEqual({});
    expect(live.get().alertSequences).toEqual({ "alert-007": 42 });
    stop();
  });
});

describe("the replay of missed alert changes", () => {
  beforeEach(() => {
    handlers.clear();
    emitted.length = 0;
    live.update(() => ({ ...initialLive, lastSequence: 40 }));
    stubApi({ "/api/devices": { devices: [] }, "/api/alerts": { alerts: [] } });
  });

  it("follows the pages the service sends until none is left", () => {
    const stop = connectLive(null, { onAlert: vi.fn() });
    handlers.get("connect")?.(undefined);
    const asked = () => emitted.filter((e) => e.event === "subscribe-alerts");
    expect(asked().map((e) => e.payload)).toEqual([{ since: 40 }]);
    asked()[0].ack?.({ success: true, replayed: 500, more: true, nextSince: 540 });
    asked()[1].ack?.({ success: true, replayed: 500, more: true, nextSince: 1040 });
    asked()[2].ack?.({ success: true, replayed: 7 });
    expect(asked().map((e) => e.payload)).toEqual([{ since: 40 }, { since: 540 }, { since: 1040 }]);
    stop();
  });
});

describe("the devices and open alerts from REST", () => {
  let fetch: ReturnType<typeof stubApi>;
  const loads = () => fetch.mock.calls.map(([input]) => new URL(String(input), "http://t").pathname).sort();

  beforeEach(() => {
    vi.useFakeTimers();
    handlers.clear();
    emitted.length = 0;
    live.update(() => initialLive);
    fetch = stubApi({ "/api/devices": { devices: [] }, "/api/alerts": { alerts: [] } });
  });
  afterEach(() => vi.useRealTimers());

  it("are loaded once, after the alerts room is joined: no change falls between the answer and the room", () => {
    const stop = connectLive(null, { onAlert: vi.fn() });
    handlers.get("connect")?.(undefined);
    expect(loads()).toEqual([]); // not before the service has the socket in the room
    emitted.find((e) => e.event === "subscribe-alerts")?.ack?.({ success: true, replayed: 0 });
    expect(loads()).toEqual(["/api/alerts", "/api/devices"]);
    vi.advanceTimersByTime(FIRST_LOAD_WAIT_MS * 2);
    expect(loads()).toHaveLength(2); // no second load
    stop();
  });

  it("do not wait for a socket that does not connect (a proxy holding WebSockets back)", () => {
    const stop = connectLive(null, { onAlert: vi.fn() });
    vi.advanceTimersByTime(FIRST_LOAD_WAIT_MS);
    expect(loads()).toEqual(["/api/alerts", "/api/devices"]);
    handlers.get("connect")?.(undefined); // when it connects at last: again, after the room is joined
    emitted.find((e) => e.event === "subscribe-alerts")?.ack?.(undefined);
    expect(loads()).toHaveLength(4);
    stop();
  });
});
