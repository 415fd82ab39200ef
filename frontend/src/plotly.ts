// Plotly as a partial bundle: the core (with scatter) and the trace types the views draw, bar and heatmap — not
// the 4.8 MB of every trace type. Loaded lazily by components/Plot.tsx, on the first chart.
import Plotly from "plotly.js/lib/core";
import bar from "plotly.js/lib/bar";
import heatmap from "plotly.js/lib/heatmap";

Plotly.register([bar, heatmap]);

export default Plotly;
