import { alert } from "../test-fixtures";
import { screen, within } from "@testing-library/react";
import type { Alert, Summary } from "../api/types";
import { stubApi, WithMeta } from "../test-api";
import { renderWithProviders } from "../test-render";
import { AlertsView } from "./AlertsView";

vi.mock("../components/Plot", () => ({ Plot: () => null, loadPlotly: vi.fn() })); // jsdom draws no charts

const today = new Date().toISOString().slice(0, 10);
const at = (time: string) => `${today}T${time}Z`;

// Acknowledged a minute after triggering: a mean over this page would say 1 min.
const acknowledged = (id: string): Alert =>
  alert({ id, status: "acknowledged", triggeredAt: at("00:00:00"), acknowledgedAt: at("00:01:00") });

const summary: Summary = {
  from: today,
  to: today,
  days: 7,
  devices: [],
  overall: { readings: 0, alerts: 812, mttaSeconds: 125, mttrSeconds: 7200 },
};

describe("AlertsView", () => {
  it("shows MTTA and MTTR as the service computes them over every alert, not over the page it lists", async () => {
    stubApi({
      "/api/alerts": { alerts: [] },
      "/api/alerts/history": new WithMeta(
        { alerts: [acknowledged("alert-1"), acknowledged("alert-2")] },
        { totalAlerts: 812 },
      ),
      "/api/analytics/summary": summary,
      "/api/silences": { silences: [] },
    });
    renderWithProviders(<AlertsView />);
    const figures = screen.getByRole("region", { name: "Response times" });
    const value = (label: string) => within(figures).getByText(label).previousElementSibling?.textContent;
    expect(await within(figures).findByText("2 min 5 s")).toBeTruthy();
    expect(value("MTTA")).toBe("2 min 5 s");
    expect(value("MTTR")).toBe("2 h 0 min");
    expect(value("alerts, 7 days")).toBe("812");

    // The severity chart and the history list come from one page of alerts, and say so.
    expect((await screen.findByTestId("severity-truncated")).textContent).toMatch(/newest 2 of the 812 alerts/);
    expect(screen.getByRole("region", { name: "History (7 days, newest 2 of 812)" })).toBeTruthy();
  });
});
