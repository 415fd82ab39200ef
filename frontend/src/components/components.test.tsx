import { fireEvent, screen } from "@testing-library/react";
import { live, outbox, session } from "../state/app";
import { initialLive } from "../state/live";
import { alert, device, operatorSession } from "../test-fixtures";
import { stubApi } from "../test-api";
import { renderWithProviders } from "../test-render";
import { AlertsTable } from "./AlertsTable";
import { bulletScale, zone } from "./Bullet";
import { ConfigEditor } from "./ConfigEditor";
import { DeadLetterSummary } from "./DeadLetterSummary";
import { DeviceCard } from "./DeviceCard";
import { Layout } from "./Layout";

const high = alert({ type: "threshold_exceeded" });
const operator = operatorSession;

afterEach(() => {
  session.update(() => null);
  live.update(() => initialLive);
  outbox.update(() => []);
});

describe("DeviceCard", () => {
  it("shows the live value with its unit, the status, the trend and a link to the device", () => {
    renderWithProviders(
      <DeviceCard
        device={{ ...device(), lastReading: { value: 86.5, timestamp: new Date().toISOString() }, alertStatus: "high" }}
        points={[]}
      />,
    );
    expect(screen.getByTestId("device-value").textContent).toMatch(/86[.,]50\s°C/);
    expect(screen.getByText("High alert")).toBeTruthy();
    expect(screen.getByLabelText("trend stable")).toBeTruthy();
    expect(screen.getByRole("link", { name: "Temperature sensor #1" }).getAttribute("href")).toBe(
      "/devices/device-001",
    );
    expect(screen.getByRole("meter").getAttribute("aria-valuenow")).toBe("86.5");
  });
});

describe("Bullet", () => {
  it("spans the limits and the value, and names the zone", () => {
    const { config } = device();
    const [low, high] = bulletScale(config, 200);
    expect(low).toBeLessThanOrEqual(15);
    expect(high).toBeGreaterThan(200);
    expect([zone(config, 50), zone(config, 82), zone(config, 90), zone(config, null)]).toEqual([
      "normal",
      "warning",
      "alert",
      "unknown",
    ]);
  });
});

describe("AlertsTable", () => {
  it("is read-only for viewers", () => {
    renderWithProviders(<AlertsTable title="Open alerts" name="alerts" alerts={[high]} />);
    expect(screen.getByText("Threshold exceeded")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Acknowledge" })).toBeNull();
  });

  it("asks an operator to confirm, with an optional note", () => {
    session.update(() => operator);
    renderWithProviders(<AlertsTable title="Open alerts" name="alerts" alerts={[high]} />);
    fireEvent.click(screen.getByRole("button", { name: "Acknowledge" }));
    const dialog = screen.getByRole("dialog", { name: "Acknowledge alert-001?" });
    expect(dialog.querySelector("textarea")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("keeps focus in the note while the operator types, and gives it back after", () => {
    session.update(() => operator);
    renderWithProviders(<AlertsTable title="Open alerts" name="alerts" alerts={[high]} />);
    const acknowledge = screen.getByRole("button", { name: "Acknowledge" });
    acknowledge.focus();
    fireEvent.click(acknowledge);
    const note = screen.getByRole("textbox", { name: "Note (optional)" });
    expect(document.activeElement).toBe(note);

    const left = vi.fn();
    acknowledge.addEventListener("focus", left);
    for (const text of ["v", "va", "valve", "valve checked"]) fireEvent.change(note, { target: { value: text } });
    expect(left).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(note);

    fireEvent.keyDown(document, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(acknowledge);
  });
});

describe("ConfigEditor", () => {
  it("is disabled for viewers", () => {
    renderWithProviders(<ConfigEditor device={device()} />);
    expect(screen.getByRole("textbox", { name: /Alert above/ }).matches(":disabled")).toBe(true);
    expect(screen.getByText(/log in as an operator/)).toBeTruthy();
  });

  it("shows an operator what is wrong before anything is sent", () => {
    session.update(() => operator);
    renderWithProviders(<ConfigEditor device={device()} />);
    fireEvent.change(screen.getByRole("textbox", { name: /Alert above/ }), { target: { value: "70" } });
    expect(screen.getByText("must be above normal to")).toBeTruthy();
    expect((screen.getByRole("button", { name: "Save configuration" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("follows the device's configuration until edited, keeps the draft after, and resets to the device's", () => {
    session.update(() => operator);
    const alertAbove = () => screen.getByRole("textbox", { name: /Alert above/ }) as HTMLInputElement;
    const { rerender } = renderWithProviders(<ConfigEditor device={device()} />);
    const changed = (alertMax: number) => ({ ...device(), config: { ...device().config, alertMax } });
    rerender(<ConfigEditor device={changed(88)} />); // saved elsewhere
    expect(alertAbove().value).toBe("88");

    fireEvent.change(alertAbove(), { target: { value: "95" } });
    rerender(<ConfigEditor device={changed(89)} />);
    expect(alertAbove().value).toBe("95");
    fireEvent.click(screen.getByRole("button", { name: "Reset" }));
    expect(alertAbove().value).toBe("89");
  });

  it("tries a draft on the last 7 days without saving it and says how often it would have fired", async () => {
    session.update(() => operator);
    const fetch = stubApi({
      "/api/devices/device-001/backtest": {
        deviceId: "device-002",
        source: "history",
        from: null,
        to: null,
        readings: 2016,
        config: device().config,
        alertCount: 3,
        perDay: [{ day: "2026-11-29", alerts: 3 }],
        perType: { threshold_exceeded: 3 },
        alerts: [],
      },
    });
    const previews: unknown[] = [];
    renderWithProviders(<ConfigEditor device={device()} onPreview={(p) => previews.push(p)} />);
    fireEvent.change(screen.getByRole("textbox", { name: /Alert above/ }), { target: { value: "84" } });
    fireEvent.click(screen.getByRole("button", { name: "Try on the last 7 days" }));
    expect((await screen.findByTestId("backtest-summary")).textContent).toContain(
      "would have fired 3 times in the last 7 days (3 threshold exceeded)",
    );
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toContain("/api/devices/device-001/backtest");
    expect(JSON.parse(String(init.body))).toEqual({ config: { alertMax: 84 } });
    expect(previews).toHaveLength(1);
  });
});

describe("Layout", () => {
  it("shows the offline banner and the queued actions when the service is unreachable", () => {
    live.update((s) => ({ ...s, connection: "offline" }));
    outbox.update(() => [{ alertId: "alert-001", kind: "acknowledge", note: "", queuedAt: "" }]);
    renderWithProviders(
      <Layout>
        <p>content</p>
      </Layout>,
    );
    expect(screen.getByRole("alert").textContent).toMatch(/unreachable.*1 action\(s\) queued/);
    expect(screen.getByRole("status").textContent).toMatch(/Reconnecting/);
  });

  it("asks for a login when the service answers reads only to signed-in users", () => {
    live.update((s) => ({ ...s, loginRequired: true }));
    renderWithProviders(
      <Layout>
        <p>content</p>
      </Layout>,
    );
    expect(screen.getByRole("alert").textContent).toMatch(/signed-in users only/);
    fireEvent.click(screen.getByRole("alert").querySelector("button")!);
    expect(screen.getByRole("dialog", { name: "Log in" })).toBeTruthy();
  });

  it("toggles and remembers the theme", () => {
    renderWithProviders(
      <Layout>
        <p>content</p>
      </Layout>,
    );
    const before = JSON.parse(localStorage.getItem("iotmon.preferences") ?? "{}").theme;
    fireEvent.click(screen.getByTestId("theme-toggle"));
    const after = JSON.parse(localStorage.getItem("iotmon.preferences") ?? "{}").theme;
    expect(after).not.toBe(before);
    expect(["dark", "light"]).toContain(after);
  });
});

describe("DeadLetterSummary", () => {
  it("says how many dead letters wait, with the commonest reasons and how to replay them", () => {
    const groups = [
      {
        topic: "sensors-data.dlq",
        kind: "unavailable" as const,
        reason: "HTTP 503: database unavailable",
        count: 1200,
      },
      { topic: "sensors-data.dlq", kind: "rejected" as const, reason: "value must be a number", count: 3 },
    ];
    renderWithProviders(<DeadLetterSummary deadLetters={{ waiting: 1203, groups }} />);
    expect(screen.getByText(/dead letters waiting/).textContent).toMatch(/1[,.\s]?203 dead letters waiting/);
    expect(screen.getByText(/unavailable: HTTP 503: database unavailable/)).toBeTruthy();
    expect(screen.getByText(/3 rejected: value must be a number/)).toBeTruthy();
    expect(screen.getByText("iotmon dlq replay")).toBeTruthy();
  });

  it("says there are none, and shows nothing while they are not known", () => {
    const { container } = renderWithProviders(<DeadLetterSummary deadLetters={null} />);
    expect(container.textContent).toBe("");
    renderWithProviders(<DeadLetterSummary deadLetters={{ waiting: 0, groups: [] }} />);
    expect(screen.getByText(/No dead letters/)).toBeTruthy();
  });
});
