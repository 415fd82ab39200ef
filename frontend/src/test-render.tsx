// Render as the app does: inside a router and a QueryClientProvider, with a fresh cache for each render.
import { QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { createQueryClient } from "./api/queryClient";

export function renderWithProviders(ui: ReactNode, { path = "/" }: { path?: string } = {}) {
  const client = createQueryClient();
  // A wrapper, not a wrapped element, so that `rerender` keeps the providers.
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>{children}</MemoryRouter>
    </QueryClientProvider>
  );
  return { ...render(ui, { wrapper }), client };
}
