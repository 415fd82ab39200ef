// A titled chart with PNG and CSV export.
import type { PlotlyHTMLElement } from "plotly.js";
import { useRef, type ReactNode } from "react";
import { stamp } from "../util/csv";
import { CsvButton } from "./CsvButton";
import { loadPlotly, Plot, type PlotProps } from "./Plot";

export interface CsvTable {
  header: string[];
  rows: (string | number | null)[][];
}

interface ChartCardProps extends Omit<PlotProps, "plotRef" | "label"> {
  title: string;
  name: string; // file name stem for exports
  csv: () => CsvTable;
  actions?: ReactNode;
  footer?: ReactNode;
}

export function ChartCard({ title, name, csv, actions, footer, ...plot }: ChartCardProps) {
  const plotRef = useRef<PlotlyHTMLElement | null>(null);
  const savePng = async () => {
    const Plotly = await loadPlotly();
    if (plotRef.current)
      await Plotly.downloadImage(plotRef.current, {
        format: "png",
        filename: `${name}-${stamp()}`,
        width: 1200,
        height: 600,
      });
  };
  return (
    <section className="card chart-card" aria-label={title}>
      <header className="card-header">
        <h2>{title}</h2>
        <div className="toolbar">
          {actions}
          <button type="button" className="ghost small" onClick={savePng} aria-label={`Download ${title} as PNG`}>
            PNG
          </button>
          <CsvButton title={`${title} data`} name={name} table={csv} />
        </div>
      </header>
      <Plot {...plot} label={title} plotRef={plotRef} />
      {footer}
    </section>
  );
}
