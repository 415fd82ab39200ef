// A small line of the latest readings (SVG: cheap enough to redraw with every update).
import type { Point } from "../state/live";

export function sparklinePath(points: Point[], width: number, height: number): string {
  if (points.length < 2) return "";
  const t0 = points[0].t;
  const span = points[points.length - 1].t - t0 || 1;
  let low = Infinity;
  let high = -Infinity;
  for (const p of points) {
    low = Math.min(low, p.v);
    high = Math.max(high, p.v);
  }
  const range = high - low || 1;
  return points
    .map(
      (p, i) =>
        `${i ? "L" : "M"}${(((p.t - t0) / span) * width).toFixed(1)},${(height - 2 - ((p.v - low) / range) * (height - 4)).toFixed(1)}`,
    )
    .join("");
}

export function Sparkline({ points, label }: { points: Point[]; label: string }) {
  const d = sparklinePath(points.slice(-120), 200, 40);
  return (
    <svg className="sparkline" viewBox="0 0 200 40" preserveAspectRatio="none" role="img" aria-label={label}>
      {d && <path d={d} fill="none" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />}
    </svg>
  );
}
