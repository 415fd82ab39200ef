// A stand-in for the service in jsdom tests: fetch answers from a table of paths, in the API's envelope.
import { vi } from "vitest";

/** A reply with envelope meta (e.g. an alert page's totalAlerts). */
export class WithMeta {
  constructor(
    readonly data: unknown,
    readonly meta: Record<string, unknown>,
  ) {}
}

/** Replies by path (the query string ignored); a function reply sees the full URL. Unknown paths get 404. */
export type Routes = Record<string, unknown>;

export function stubApi(routes: Routes) {
  const fetch = vi.fn(async (input: RequestInfo | URL) => {
    const url = new URL(String(input), "http://dashboard.test");
    if (!(url.pathname in routes)) {
      const error = { code: "NOT_FOUND", message: `no stub for ${url.pathname}` };
      return new Response(JSON.stringify({ success: false, error }), { status: 404 });
    }
    const route = routes[url.pathname];
    const reply = typeof route === "function" ? route(url) : route;
    const { data, meta } = reply instanceof WithMeta ? reply : { data: reply, meta: {} };
    return new Response(JSON.stringify({ success: true, data, meta }), { status: 200 });
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}
