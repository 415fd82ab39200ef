import { seedFirstView } from "./firstView"; // first: its request leaves before the rest is evaluated
import { QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "react-toastify/dist/ReactToastify.css";
import { createQueryClient } from "./api/queryClient";
import { App } from "./App";
import { preferences } from "./state/app";
import "./styles.css";

document.documentElement.dataset.theme = preferences.get().theme; // before the first paint: no flash

const queryClient = createQueryClient(); // the one cache of server state
seedFirstView(queryClient);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
