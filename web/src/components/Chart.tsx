import { useEffect, useRef } from 'react';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** `points`: markers only, no line (a scatter); `dashed`: a dashed line. Default a solid line with markers. */
  style?: 'line' | 'points' | 'dashed';
}

// Tick steps for an x of whole numbers (epochs, trials, hours): never a tick at 2.5.
const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

const COLORS = ['#1c7ed6', '#f76707', '#37b24d', '#ae3ec9', '#f03e3e', '#1098ad', '#f59f00', '#5c7cfa'];

/**
 * A line chart over epochs, or another step such as hours or trials (uPlot); redraws in place as
 * points arrive. x is whole numbers, ticked at whole steps, unless `xContinuous` (a parameter's
 * values); `xLog` puts x on a log scale.
 */
export function EpochChart({ title, x, series, height = 240, xLabel = 'epoch', xLog = false, xContinuous = xLog }: { title: string; x: number[]; series: ChartSeries[]; height?: number; xLabel?: string; xLog?: boolean; xContinuous?: boolean }) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = series.map((s) => `${s.label}:${s.style ?? 'line'}`).join('|');

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const options: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height,
      scales: { x: { time: false, ...(xLog ? { distr: 3 } : {}) } },
      axes: [{ label: xLabel, ...(xContinuous ? {} : { incrs: WHOLE_STEPS }) }, {}],
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: s.style === 'points' ? 0 : 2,
          points: { show: true, size: s.style === 'points' ? 7 : 5, ...(s.style === 'points' ? { fill: COLORS[i % COLORS.length] } : {}) },
          ...(s.style === 'points' ? { paths: () => null } : {}),
          ...(s.style === 'dashed' ? { dash: [6, 4] } : {}),
          spanGaps: true,
        })),
      ],
    };
    plot.current = new uPlot(options, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const observer = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuild only when the set of series changes; data updates go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [labels, height, xLabel, xLog, xContinuous]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series]);

  return <div ref={container} className="chart" role="img" aria-label={`${title}: ${series.map((s) => s.label).join(', ')} over ${x.length} ${xLabel === 'epoch' ? 'epochs' : 'points'}`} data-testid={`chart-${title.toLowerCase().replace(/\W+/g, '-')}`} data-points={x.length} />;
}
