// Render as the app does: inside a router and a QueryClientProvider, with a fresh cache for each render.
import { QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { createQueryClient } from "./api/queryClient";

export function renderWithProviders(ui: ReactNode, { path = "/" }: { path?: string } = {}) {
  const client = createQueryClient();
  const result = render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...result, client };
}
