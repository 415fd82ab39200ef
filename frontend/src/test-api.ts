// A stand-in for the service in jsdom tests: fetch answers from a table of paths, in the seed's envelope.
import { vi } from "vitest";

/** Replies by path (the query string ignored); a function reply sees the full URL. Unknown paths get 404. */
export type Routes = Record<string, unknown | ((url: URL) => unknown)>;

export function stubApi(routes: Routes): ReturnType<typeof vi.fn> {
  const fetch = vi.fn(async (input: RequestInfo | URL) => {
    const url = new URL(String(input), "http://dashboard.test");
    if (!(url.pathname in routes)) {
      const error = { code: "NOT_FOUND", message: `no stub for ${url.pathname}` };
      return new Response(JSON.stringify({ success: false, error }), { status: 404 });
    }
    const reply = routes[url.pathname];
    const data = typeof reply === "function" ? reply(url) : reply;
    return new Response(JSON.stringify({ success: true, data, meta: {} }), { status: 200 });
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}
