import { fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { Layout } from "./Layout";
import { ViewBoundary } from "./ViewBoundary";

let broken = true;

function FragileView() {
  if (broken) throw new Error("cannot read the figures");
  return <h1>Alerts</h1>;
}

const renderAt = (path: string) =>
  render(
    <MemoryRouter initialEntries={[path]}>
      <Layout>
        <Routes>
          <Route path="/" element={<h1>Overview</h1>} />
          <Route
            path="/alerts"
            element={
              <ViewBoundary>
                <FragileView />
              </ViewBoundary>
            }
          />
        </Routes>
      </Layout>
    </MemoryRouter>,
  );

describe("ViewBoundary", () => {
  beforeEach(() => {
    broken = true;
    vi.spyOn(console, "error").mockImplementation(() => undefined); // React reports the caught error; expected here
  });
  afterEach(() => vi.restoreAllMocks());

  it("shows what failed inside the layout, and the view again after Try again", () => {
    renderAt("/alerts");
    expect(screen.getByRole("alert").textContent).toMatch(/This view failed.*cannot read the figures/);
    expect(screen.getByRole("navigation", { name: "Views" })).toBeTruthy(); // the app around it stays

    broken = false;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(screen.getByRole("heading", { name: "Alerts" })).toBeTruthy();
    expect(screen.queryByText("This view failed")).toBeNull();
  });

  it("links back to the overview", () => {
    renderAt("/alerts");
    fireEvent.click(screen.getByRole("link", { name: "Back to the overview" }));
    expect(screen.getByRole("heading", { name: "Overview" })).toBeTruthy();
  });
});
