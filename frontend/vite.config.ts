/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API and Socket.IO to a running `iotmon up` (PORT 8000 by default).
const service = process.env.IOTMON_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", chunkSizeWarningLimit: 5000 },
  server: {
    proxy: {
      "/api": service,
      "/socket.io": { target: service, ws: true },
    },
  },
  test: { environment: "jsdom", globals: true, setupFiles: ["src/test-setup.ts"] },
});
