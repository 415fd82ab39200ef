import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "react-toastify/dist/ReactToastify.css";
import { App } from "./App";
import { preferences } from "./state/app";
import "./styles.css";

document.documentElement.dataset.theme = preferences.get().theme; // before the first paint: no flash

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
