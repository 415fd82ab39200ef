// plotly.js's partial entry points are CommonJS without types of their own: the core is the whole API's.
declare module "plotly.js/lib/core" {
  import * as Plotly from "plotly.js";
  const core: typeof Plotly & { register(modules: unknown[]): void };
  export default core;
}
declare module "plotly.js/lib/bar" {
  const trace: unknown;
  export default trace;
}
declare module "plotly.js/lib/heatmap" {
  const trace: unknown;
  export default trace;
}
