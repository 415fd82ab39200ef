import { act, fireEvent, screen, within } from "@testing-library/react";
import type { ApiKey } from "../api/types";
import { session } from "../state/app";
import { renderWithProviders } from "../test-render";
import { KeysView, names } from "./KeysView";

const key = (over: Partial<ApiKey> = {}): ApiKey => ({
  id: 1,
  name: "gateway",
  hint: "iotmon_gw_AbCd",
  devices: [],
  locations: [],
  autoRegister: true,
  createdBy: "iotmon up",
  createdAt: "2026-01-11T10:05:00.000Z",
  lastUsedAt: null,
  revokedAt: null,
  ...over,
});

const SECRET = "iotmon_gw_the-secret-shown-once-0123456789abcdefghijkl";

/** The service's /api/keys: GET lists, POST makes a key; what was sent is kept for the test to read. */
function stubKeys(listed: ApiKey[]) {
  const sent: unknown[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const reply = (data: unknown, status = 200) =>
      new Response(JSON.stringify({ success: true, data, meta: {} }), { status });
    if (init?.method === "POST") {
      const body = JSON.parse(String(init.body)) as Partial<ApiKey>;
      sent.push(body);
      return reply({ key: key({ id: 2, ...body }), secret: SECRET }, 201);
    }
    expect(String(input)).toContain("/api/keys");
    return reply({ keys: listed });
  });
  vi.stubGlobal("fetch", fetch);
  return sent;
}

const signIn = (role: "viewer" | "operator" | "admin") =>
  session.update(() => ({
    token: "t",
    tokenType: "Bearer",
    username: `test-${role}`,
    role,
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    refreshToken: "r",
    sessionExpiresAt: new Date(Date.now() + 3600_000).toISOString(),
  }));

describe("KeysView", () => {
  afterEach(() => session.update(() => null));

  it("is for admins only", () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    signIn("operator");
    renderWithProviders(<KeysView />);
    expect(screen.getByText(/Only admins manage/)).toBeTruthy();
    expect(fetch).not.toHaveBeenCalled();
  });

  it("lists the keys with their scope, and shows a new key's secret once", async () => {
    const sent = stubKeys([
      key(),
      key({ id: 3, name: "old", devices: ["device-001"], revokedAt: "2026-01-12T00:00:00.000Z" }),
    ]);
    signIn("admin");
    renderWithProviders(<KeysView />);
    const gateway = (await screen.findByText("gateway")).closest("tr")!;
    expect(within(gateway).getByText("Every device")).toBeTruthy();
    expect(within(gateway).getByRole("button", { name: "Revoke" })).toBeTruthy();
    const old = screen.getByText("old").closest("tr")!;
    expect(within(old).getByText("device-001")).toBeTruthy();
    expect(within(old).queryByRole("button", { name: "Revoke" })).toBeNull();

    const form = screen.getByRole("form", { name: "New API key" });
    fireEvent.change(within(form).getByLabelText("Name"), { target: { value: "line 2" } });
    fireEvent.change(within(form).getByLabelText("Devices"), {
      target: { value: "device-003, device-004 device-003" },
    });
    fireEvent.click(within(form).getByLabelText("Registers new devices"));
    await act(async () => {
      fireEvent.submit(form);
    });
    expect((await screen.findByTestId("api-key-secret")).textContent).toBe(SECRET);
    expect(sent).toEqual([
      { name: "line 2", devices: ["device-003", "device-004"], locations: [], autoRegister: true },
    ]);
    act(() => fireEvent.click(screen.getByRole("button", { name: "Done" })));
    expect(screen.queryByTestId("api-key-secret")).toBeNull();
  });

  it("reads names separated by commas or spaces, once each", () => {
    expect(names(" a, b  c,,a ")).toEqual(["a", "b", "c"]);
  });
});
