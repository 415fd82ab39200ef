// A Plotly chart: loaded on first use, drawn with Plotly.react, themed, resized with its box.
import type { Config, Data, Layout, PlotlyHTMLElement } from "plotly.js";
import { useEffect, useLayoutEffect, useRef } from "react";
import { preferences, type Theme } from "../state/app";
import { useStore } from "../state/store";

type PlotlyModule = typeof import("plotly.js");

let plotly: Promise<PlotlyModule> | null = null;
export const loadPlotly = (): Promise<PlotlyModule> =>
  (plotly ??= import("../plotly").then((module) => module.default as unknown as PlotlyModule));

/** Fetch the charts' code into the HTTP cache, not run (no long task), so that the first chart waits only to run
 * it: 0.4 MB that a busy service took 0.1–0.8 s to send after the click. Its name is in index.html (vite.config.ts);
 * not under `npm run dev`. */
export function prefetchPlotly(): void {
  const href = document.querySelector<HTMLMetaElement>('meta[name="iotmon-charts"]')?.content;
  if (!href || plotly || document.querySelector(`link[rel="prefetch"][href="${href}"]`)) return;
  const link = document.createElement("link");
  link.rel = "prefetch";
  link.as = "script";
  link.crossOrigin = "anonymous"; // as a module script is fetched: the same cache entry
  link.href = href;
  document.head.append(link);
}

// Charts are drawn one at a time, each after the one before has reached the screen: a page's first draw of two
// charts was one task of 150–200 ms (Plotly sets up each chart's axes, fonts and mode bar), the first chart on screen
// only at its end. Updates take their turn too.
let drawn: Promise<void> = Promise.resolve();
const afterPaint = () => new Promise<void>((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

function inTurn<T>(draw: () => T | Promise<T>): Promise<T> {
  const turn = drawn.then(draw);
  drawn = turn.then(afterPaint, afterPaint); // a failed draw (reported to its caller) does not stop the others
  return turn;
}

const THEME: Record<Theme, { text: string; grid: string }> = {
  dark: { text: "#d6dbe4", grid: "rgba(214,219,228,0.12)" },
  light: { text: "#1d2430", grid: "rgba(29,36,48,0.12)" },
};

const narrow = () => typeof matchMedia === "function" && matchMedia("(max-width: 600px)").matches;

export function themedLayout(layout: Partial<Layout>, theme: Theme): Partial<Layout> {
  const colors = THEME[theme];
  const axis = { gridcolor: colors.grid, zerolinecolor: colors.grid, linecolor: colors.grid };
  return {
    margin: { l: 48, r: 16, t: 12, b: 36 },
    ...layout,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: colors.text, family: "system-ui, sans-serif", size: 12, ...layout.font },
    xaxis: { ...axis, ...layout.xaxis },
    yaxis: { ...axis, ...layout.yaxis },
    legend: { orientation: "h", y: -0.2, ...layout.legend },
  };
}

export interface PlotProps {
  data: Data[];
  layout?: Partial<Layout>;
  config?: Partial<Config>;
  height?: number;
  label: string; // what the chart shows, for screen readers
  onRelayout?: (event: Record<string, unknown>) => void;
  plotRef?: React.MutableRefObject<PlotlyHTMLElement | null>;
}

export function Plot({ data, layout = {}, config = {}, height = 280, label, onRelayout, plotRef }: PlotProps) {
  const box = useRef<HTMLDivElement>(null);
  const theme = useStore(preferences, (p) => p.theme);
  // Plotly's handler is bound once per element; it calls the latest onRelayout through this ref.
  const relayout = useRef(onRelayout);
  useLayoutEffect(() => {
    relayout.current = onRelayout;
  }, [onRelayout]);

  useEffect(() => {
    let cancelled = false;
    const draw = (Plotly: PlotlyModule) => {
      if (cancelled || !box.current) return;
      return Plotly.react(box.current, data, themedLayout({ height, ...layout }, theme), {
        displaylogo: false,
        responsive: true,
        displayModeBar: narrow() ? false : "hover", // on phones it would cover the chart; the card has PNG/CSV
        ...config,
      }).then((element) => {
        if (plotRef) plotRef.current = element;
        const withEvents = element as PlotlyHTMLElement & { _iotmonBound?: boolean };
        if (!withEvents._iotmonBound) {
          withEvents._iotmonBound = true;
          element.on("plotly_relayout", (event) => relayout.current?.(event as Record<string, unknown>));
        }
      });
    };
    loadPlotly().then((Plotly) => inTurn(() => draw(Plotly)));
    return () => {
      cancelled = true;
    };
  }, [data, layout, config, height, theme, plotRef]);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const observer = new ResizeObserver(() => {
      if (plotly && element.querySelector(".main-svg")) plotly.then((Plotly) => Plotly.Plots.resize(element));
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plotly?.then((Plotly) => Plotly.purge(element));
    };
  }, []);

  return <div ref={box} className="plot" style={{ minHeight: height }} role="img" aria-label={label} />;
}
