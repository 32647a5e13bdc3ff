/**
 * The report's charts: Vega-Lite specifications compiled and rendered by Vega to static SVG when the
 * report is written (Vega's headless `renderer: 'none'` view; no canvas, no browser, no client-side
 * script). Colors of text, axes and grid are `currentColor`, so the inlined SVG follows the page's
 * light or dark scheme; the severity colors read on both.
 */
import type { ReportData } from './data.js';
import { SEVERITIES } from './sql.js';

/** One chart of the report: its SVG, and what to say about it. */
export interface RenderedChart {
  id: string;
  title: string;
  /** One line: how to read the chart. */
  caption: string;
  svg: string;
}

export const SEVERITY_COLORS: Readonly<Record<(typeof SEVERITIES)[number], string>> = {
  critical: '#c62828',
  high: '#ef6c00',
  medium: '#d4a017',
  low: '#4a90c2',
};

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';

/** Vega-Lite config shared by every chart. */
const CONFIG = {
  background: 'transparent',
  font: FONT,
  view: { stroke: null },
  axis: {
    labelColor: 'currentColor',
    titleColor: 'currentColor',
    domainColor: 'currentColor',
    tickColor: 'currentColor',
    gridColor: 'currentColor',
    gridOpacity: 0.15,
    labelFontSize: 11,
    titleFontSize: 11,
    titleFontWeight: 'normal',
  },
  legend: { labelColor: 'currentColor', titleColor: 'currentColor', orient: 'top', title: null },
  title: { color: 'currentColor' },
} as const;

const severityColor = {
  field: 'severity',
  type: 'nominal',
  scale: { domain: [...SEVERITIES], range: SEVERITIES.map((s) => SEVERITY_COLORS[s]) },
  sort: [...SEVERITIES],
  title: 'severity',
} as const;

const severityOrder = {
  field: 'rank',
  type: 'quantitative',
} as const;

/** The axis of open findings stacked by severity. */
const stackedFindings = (field: string) => ({
  field,
  type: 'quantitative',
  stack: 'zero',
  title: 'open findings',
  axis: { tickMinStep: 1 },
});

/** One row per severity of each input row: its count of that severity, the row's rank as `order`. */
function severityRows<T extends Record<(typeof SEVERITIES)[number], number>>(
  rows: readonly T[],
  label: (row: T) => Record<string, string>,
) {
  return rows.flatMap((row, index) =>
    SEVERITIES.map((severity) => ({
      ...label(row),
      order: index,
      severity,
      findings: row[severity],
      rank: rank(severity),
    })),
  );
}

const rank = (severity: string) => SEVERITIES.indexOf(severity as (typeof SEVERITIES)[number]);

type Spec = Record<string, unknown>;
type ChartSpec = Omit<RenderedChart, 'svg'> & { spec: Spec };

/** The Vega-Lite specification of every chart, from the report's numbers (pure). */
export function chartSpecs(data: ReportData): ChartSpec[] {
  // Over time: open findings, new and resolved per day, time to fix; then the posture now.
  return [
    openTrendChart(data),
    newResolvedChart(data),
    timeToFixChart(data),
    openAgeChart(data),
    topVulnerabilitiesChart(data),
    riskiestRepositoriesChart(data),
  ];
}

const TIME_CHART_WIDTH = 640;

/** The x axis of a chart over time: one UTC day a step. */
const dayAxis = (timeBase: string) => ({
  field: 'day',
  type: 'temporal',
  timeUnit: 'utcyearmonthdate',
  title: `day (UTC, ${timeBase})`,
  axis: { format: '%b %d', labelOverlap: true },
});

/** Open findings at the end of each day, stacked by severity. */
function openTrendChart(data: ReportData): ChartSpec {
  const trendRows = data.openTrend.flatMap((day) =>
    SEVERITIES.map((severity) => ({ day: day.day, severity, open: day[severity], rank: rank(severity) })),
  );
  return {
    id: 'open-trend',
    title: 'Open findings over time',
    caption:
      'Each band is the number of findings of one severity still open at the end of each day (by console scan time); a shrinking band means fixes outpace new findings.',
    spec: {
      width: TIME_CHART_WIDTH,
      height: 220,
      data: { values: trendRows },
      mark: { type: 'area', line: true },
      encoding: {
        x: dayAxis(data.timeBase),
        y: stackedFindings('open'),
        color: severityColor,
        order: severityOrder,
      },
    },
  };
}

/** Findings opened (above zero) and resolved (below) per day. */
function newResolvedChart(data: ReportData): ChartSpec {
  const moveRows = data.newResolved.flatMap((day) => [
    { day: day.day, kind: 'new', count: day.new },
    { day: day.day, kind: 'resolved', count: -day.resolved },
  ]);
  return {
    id: 'new-resolved',
    title: 'New and resolved findings per day',
    caption:
      'Bars above zero count findings that appeared that day, bars below zero findings resolved (fixed or image removed), by console scan time.',
    spec: {
      width: TIME_CHART_WIDTH,
      height: 180,
      data: { values: moveRows },
      mark: { type: 'bar' },
      encoding: {
        x: dayAxis(data.timeBase),
        y: {
          field: 'count',
          type: 'quantitative',
          title: 'findings (resolved below zero)',
          axis: { tickMinStep: 1 },
        },
        color: {
          field: 'kind',
          type: 'nominal',
          scale: { domain: ['new', 'resolved'], range: ['#c62828', '#2e7d32'] },
        },
      },
    },
  };
}

/** Median and 90th percentile of the days to fix, per severity. */
function timeToFixChart(data: ReportData): ChartSpec {
  const fixRows = data.timeToFix.flatMap((row) => [
    { severity: row.severity, statistic: 'median', days: row.medianDays },
    { severity: row.severity, statistic: '90th percentile', days: row.p90Days },
  ]);
  return {
    id: 'time-to-fix',
    title: 'Time to fix',
    caption:
      'Days from a finding first seen to the scan that no longer lists it, for fixes in the period: the left bar is the median, the right one the 90th percentile.',
    spec: {
      width: 420,
      height: 180,
      data: { values: fixRows.filter((row) => row.days !== null) },
      mark: { type: 'bar' },
      encoding: {
        x: {
          field: 'severity',
          type: 'nominal',
          sort: [...SEVERITIES],
          scale: { domain: [...SEVERITIES] },
          axis: { labelAngle: 0 },
        },
        xOffset: { field: 'statistic', type: 'nominal', sort: ['median', '90th percentile'] },
        y: { field: 'days', type: 'quantitative', title: 'days' },
        color: {
          field: 'statistic',
          type: 'nominal',
          sort: ['median', '90th percentile'],
          scale: { range: ['#5c6bc0', '#9fa8da'] },
        },
      },
    },
  };
}

/** How long the open findings have been open, stacked by severity. */
function openAgeChart(data: ReportData): ChartSpec {
  const ageRows = severityRows(data.openAge, (bucket) => ({ bucket: bucket.bucket }));
  return {
    id: 'open-age',
    title: 'Age of open findings',
    caption:
      'How long the findings still open have been open (days since first seen), stacked by severity; mass on the right is old risk.',
    spec: {
      width: 420,
      height: 180,
      data: { values: ageRows },
      mark: { type: 'bar' },
      encoding: {
        x: {
          field: 'bucket',
          type: 'ordinal',
          sort: { field: 'order' },
          title: 'open for',
          axis: { labelAngle: 0 },
        },
        y: stackedFindings('findings'),
        color: severityColor,
        order: severityOrder,
      },
    },
  };
}

/** The vulnerabilities open on the most images. */
function topVulnerabilitiesChart(data: ReportData): ChartSpec {
  return {
    id: 'top-vulnerabilities',
    title: 'Top vulnerabilities by images affected',
    caption:
      'Each bar counts the current images with the vulnerability open, colored by its severity; the longest bars are the widest-spread fixes.',
    spec: {
      width: 560,
      height: { step: 18 },
      data: { values: data.topVulnerabilities.map((row, order) => ({ ...row, order })) },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'vulnerabilityId', type: 'nominal', sort: { field: 'order' }, title: null },
        x: { field: 'images', type: 'quantitative', title: 'images affected', axis: { tickMinStep: 1 } },
        color: { ...severityColor },
      },
    },
  };
}

/** Open findings per repository, stacked by severity. */
function riskiestRepositoriesChart(data: ReportData): ChartSpec {
  const repoRows = severityRows(data.riskiestRepositories, (repo) => ({
    repository: `${repo.registry}/${repo.repo}`,
  }));
  return {
    id: 'riskiest-repositories',
    title: 'Riskiest repositories',
    caption:
      'Open findings of the current images of each repository, stacked by severity; ranked by criticals, then highs, mediums and lows.',
    spec: {
      width: 560,
      height: { step: 18 },
      data: { values: repoRows },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'repository', type: 'nominal', sort: { field: 'order' }, title: null },
        x: stackedFindings('findings'),
        color: severityColor,
        order: severityOrder,
      },
    },
  };
}

/**
 * Gives every `id` of an SVG (clip paths, gradients) a prefix, so several SVGs inlined in one page
 * never refer to each other's definitions.
 */
export function prefixSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

/**
 * Renders every chart to SVG with Vega (loaded on first use: only the report pays for it).
 *
 * @example
 * const charts = await renderCharts(data);
 * charts[0].svg; // '<svg xmlns="http://www.w3.org/2000/svg" ...'
 */
export async function renderCharts(data: ReportData): Promise<RenderedChart[]> {
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const charts: RenderedChart[] = [];
  for (const { spec, ...chart } of chartSpecs(data)) {
    const compiled = compile({ ...spec, config: CONFIG } as Parameters<typeof compile>[0]).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    try {
      const svg = await view.toSVG();
      charts.push({ ...chart, svg: prefixSvgIds(svg, chart.id) });
    } finally {
      view.finalize();
    }
  }
  return charts;
}
