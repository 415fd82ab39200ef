/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

// `npm run dev` proxies the API and Socket.IO to a running `iotmon up` (PORT 8000 by default).
const service = process.env.IOTMON_URL ?? "http://127.0.0.1:8000";

/** Names the charts' chunk (Plotly's partial bundle, src/plotly.ts) in index.html: its file name carries a hash that
 * the code importing it cannot know, and the overview fetches it ahead, when idle (components/Plot.tsx). */
function nameChartsChunk(): Plugin {
  return {
    name: "iotmon-charts-chunk",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, context) {
        const charts = Object.values(context.bundle ?? {}).find(
          (output) => output.type === "chunk" && output.facadeModuleId?.endsWith("/src/plotly.ts"),
        );
        if (!charts) return [];
        return [{ tag: "meta", attrs: { name: "iotmon-charts", content: `/${charts.fileName}` }, injectTo: "head" }];
      },
    },
  };
}

export default defineConfig({
  plugins: [react(), nameChartsChunk()],
  // plotly.js's partial bundle (src/plotly.ts) would carry maplibre-gl's stylesheet for map traces it leaves out.
  // …and some of its CommonJS modules name Node's `global` (its dist bundles define it themselves).
  define: { global: "globalThis" },
  resolve: {
    alias: [
      {
        find: /^maplibre-gl\/dist\/maplibre-gl\.css$/,
        replacement: fileURLToPath(new URL("src/no-map.ts", import.meta.url)),
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
