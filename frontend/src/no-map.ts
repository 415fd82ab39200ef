// In place of maplibre-gl's stylesheet, which plotly.js's registry requires for map traces: the dashboard draws no
// maps. A module, not an empty stylesheet: a stylesheet became a CSS file of its own beside the charts' chunk, and
// Vite waits for a chunk's CSS before running it (a round trip between the click and the first chart).
export {};
