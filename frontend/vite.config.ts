/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `npm run dev` proxies the API and Socket.IO to a running `iotmon up` (PORT 8000 by default).
const service = process.env.IOTMON_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  // plotly.js's partial bundle (src/plotly.ts) would carry maplibre-gl's stylesheet for map traces it leaves out.
  // …and some of its CommonJS modules name Node's `global` (its dist bundles define it themselves).
  define: { global: "globalThis" },
  resolve: {
    alias: [
      {
        find: /^maplibre-gl\/dist\/maplibre-gl\.css$/,
        replacement: fileURLToPath(new URL("src/no-map.css", import.meta.url)),
      },
    ],
  },
  build: { outDir: "dist", chunkSizeWarningLimit: 5000 },
  server: {
    proxy: {
      "/api": service,
      "/socket.io": { target: service, ws: true },
    },
  },
  test: { environment: "jsdom", globals: true, setupFiles: ["src/test-setup.ts"] },
});
