/**
 * The report's three formats from one {@link ReportData}: a self-contained HTML page (inline CSS and
 * SVG only: no script, font, image or link to fetch), Markdown, and JSON. All three carry the same
 * numbers; the HTML also carries each chart's numbers as a table.
 */
import type { RenderedChart } from './charts.js';
import { SEVERITY_COLORS } from './charts.js';
import type { ReportData, SeverityCounts } from './data.js';
import { SEVERITIES } from './sql.js';

export const REPORT_FORMATS = ['html', 'json', 'md'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportMeta {
  /** What the report covers, e.g. `console prod` or `all consoles`. */
  scope: string;
  /** When the report was written (ISO). */
  generatedAt: string;
}

/** The JSON document of the report (pure). */
export function renderJson(data: ReportData, meta: ReportMeta): string {
  return `${JSON.stringify({ ...meta, ...data }, null, 2)}\n`;
}

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
const int = (n: number) => n.toLocaleString('en-US');
const days = (n: number | null) => (n === null ? '–' : n.toFixed(1));
const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/** A table as [header, ...rows] of already formatted cells. */
type Grid = string[][];

function tableGrids(data: ReportData): Record<string, Grid> {
  const bySeverity = (label: string, rows: Array<{ key: string } & SeverityCounts>): Grid => [
    [label, ...SEVERITIES],
    ...rows.map((row) => [row.key, ...SEVERITIES.map((s) => int(row[s]))]),
  ];
  return {
    'open-trend': bySeverity(
      'day',
      data.openTrend.map((row) => ({ ...row, key: row.day })),
    ),
    'new-resolved': [
      ['day', 'new', 'resolved'],
      ...data.newResolved.map((row) => [row.day, int(row.new), int(row.resolved)]),
    ],
    'time-to-fix': [
      ['severity', 'fixed', 'median days', '90th percentile days'],
      ...data.timeToFix.map((row) => [row.severity, int(row.fixed), days(row.medianDays), days(row.p90Days)]),
    ],
    'open-age': bySeverity(
      'open for',
      data.openAge.map((row) => ({ ...row, key: row.bucket })),
    ),
    'top-vulnerabilities': [
      ['vulnerability', 'severity', 'images', 'images with a fix'],
      ...data.topVulnerabilities.map((row) => [
        row.vulnerabilityId,
        row.severity,
        int(row.images),
        int(row.imagesFixable),
      ]),
    ],
    'riskiest-repositories': [
      ['repository', 'images', ...SEVERITIES, 'total'],
      ...data.riskiestRepositories.map((row) => [
        `${row.registry}/${row.repo}`,
        int(row.images),
        ...SEVERITIES.map((s) => int(row[s])),
        int(row.total),
      ]),
    ],
  };
}

function breachGrid(data: ReportData): Grid {
  return [
    [
      'image',
      'vulnerability',
      'severity',
      'package',
      'fix version',
      'first seen',
      'open days',
      'SLA days',
      'overdue days',
    ],
    ...data.slaBreaches.rows.map((row) => [
      row.imageKey,
      row.vulnerabilityId,
      row.severity,
      `${row.packageName} ${row.packageVersion}`,
      row.fixVersion ?? 'none',
      row.firstSeen.slice(0, 16).replace('T', ' '),
      days(row.ageDays),
      String(row.slaDays),
      days(row.overdueDays),
    ]),
  ];
}

interface Tile {
  id: string;
  label: string;
  value: string;
  note?: string;
}

/** The headline tiles, in page order (pure). The HTML marks each value with `data-tile`. */
export function tiles(data: ReportData): Tile[] {
  const t = data.tiles;
  return [
    { id: 'images', label: 'Images', value: int(t.images) },
    { id: 'openFindings', label: 'Open findings', value: int(t.openFindings) },
    ...SEVERITIES.map((s) => ({ id: s, label: `Open ${s}`, value: int(t[s]) })),
    {
      id: 'fixableShare',
      label: 'Fixable',
      value: percent(t.fixableShare),
      note: `${int(t.fixable)} with a fix`,
    },
    { id: 'imagesWithCritical', label: 'Images with a critical', value: int(t.imagesWithCritical) },
    {
      id: 'staleImages',
      label: 'Stale images',
      value: int(t.staleImages),
      note: `last scan over ${data.params.staleDays} days ago`,
    },
    { id: 'slaBreaches', label: 'SLA breaches', value: int(t.slaBreaches) },
  ];
}

function htmlTable(grid: Grid, caption?: string): string {
  const [head = [], ...body] = grid;
  const cap = caption ? `<caption>${escapeHtml(caption)}</caption>` : '';
  const th = head.map((cell) => `<th scope="col">${escapeHtml(cell)}</th>`).join('');
  const rows = body
    .map(
      (row) =>
        `<tr>${row.map((cell, i) => (i === 0 ? `<th scope="row">${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)).join('')}</tr>`,
    )
    .join('\n');
  return `<table>${cap}<thead><tr>${th}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/** Rows of the SLA breach table shown open; the rest (up to `breachRows`) sit in a collapsed section. */
const BREACHES_SHOWN = 20;

function breachTables(grid: Grid): string {
  const [head = [], ...rows] = grid;
  if (rows.length === 0) return '<p>None.</p>';
  const first = htmlTable([head, ...rows.slice(0, BREACHES_SHOWN)]);
  const rest = rows.slice(BREACHES_SHOWN);
  const more =
    rest.length > 0
      ? `<details><summary>${int(rest.length)} more</summary>${htmlTable([head, ...rest])}</details>`
      : '';
  return `<div class="breaches">${first}${more}</div>`;
}

const STYLE = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1d2430; --muted: #5b6474; --card: #f4f6f9; --rule: #d9dee6; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171c; --fg: #e6e9ee; --muted: #9aa3b2; --card: #1e232b; --rule: #333a45; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 8px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
.meta, figcaption, .note { color: var(--muted); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 16px 0; padding: 0; list-style: none; }
.tile { background: var(--card); border-radius: 6px; padding: 10px 12px; }
.tile .label { font-size: 12px; color: var(--muted); }
.tile .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .note { font-size: 11px; }
.tile.sev { border-left: 4px solid var(--sev); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
figure { margin: 0 0 16px; break-inside: avoid; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; color: var(--fg); }
figcaption { margin: 4px 0; font-size: 13px; }
details { margin: 4px 0 8px; }
summary { cursor: pointer; color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; margin: 6px 0; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 8px; text-align: right; }
th[scope="col"] { text-align: right; }
thead th:first-child, tbody th { text-align: left; font-weight: normal; }
.breaches td, .breaches th { text-align: left; }
@media print {
  :root { --bg: #fff; --fg: #000; --muted: #444; --card: #f2f2f2; --rule: #bbb; color-scheme: light; }
  main { max-width: none; padding: 0; }
  .grid2 { display: block; }
  details > summary { display: none; }
  details:not([open]) > table { display: table; }
  h2 { break-after: avoid; }
  tr { break-inside: avoid; }
}
`;

function htmlFigure(chart: RenderedChart, grid: Grid): string {
  const captionId = `${chart.id}-caption`;
  // The SVG is an image described by its caption; the table below carries the same numbers.
  const svg = chart.svg.replace(/^<svg /, `<svg role="img" aria-labelledby="${captionId}" `);
  return `<figure id="${chart.id}" data-chart="${chart.id}">
<h3 class="sr">${escapeHtml(chart.title)}</h3>
${svg}
<figcaption id="${captionId}">${escapeHtml(chart.caption)}</figcaption>
<details><summary>Data table</summary>
${htmlTable(grid, chart.title)}
</details>
</figure>`;
}

/**
 * The report as one HTML page (pure): tiles, charts (inline SVG) with their captions and tables, and
 * the SLA breaches. No script, no external resource.
 */
export function renderHtml(data: ReportData, charts: RenderedChart[], meta: ReportMeta): string {
  const grids = tableGrids(data);
  const figure = (id: string) => {
    const chart = charts.find((c) => c.id === id);
    return chart ? htmlFigure(chart, grids[id] ?? []) : '';
  };
  const tileItems = tiles(data)
    .map((tile) => {
      const sev = (SEVERITIES as readonly string[]).includes(tile.id)
        ? ` sev" style="--sev: ${SEVERITY_COLORS[tile.id as (typeof SEVERITIES)[number]]}`
        : '';
      const note = tile.note ? `<div class="note">${escapeHtml(tile.note)}</div>` : '';
      return `<li class="tile${sev}"><div class="label">${escapeHtml(tile.label)}</div><div class="value" data-tile="${tile.id}">${escapeHtml(tile.value)}</div>${note}</li>`;
    })
    .join('\n');
  const sla = SEVERITIES.map((s) => `${s} ${data.params.sla[s]} days`).join(', ');
  const breaches = data.slaBreaches;
  const breachNote =
    breaches.total > breaches.rows.length
      ? `The ${int(breaches.rows.length)} oldest of ${int(breaches.total)} are listed.`
      : `${int(breaches.total)} open findings past their limit.`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Registry vulnerability posture — ${escapeHtml(meta.scope)}</title>
<style>${STYLE}.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }</style>
</head>
<body>
<main>
<h1>Registry vulnerability posture</h1>
<p class="meta">${escapeHtml(meta.scope)} · as of ${escapeHtml(data.params.asOf.slice(0, 16).replace('T', ' '))} UTC · trend ${data.period.first} to ${data.period.last} (${data.params.days} days) · timelines by ${data.timeBase} · SLA: ${sla}</p>
<ul class="tiles" aria-label="Headline figures">
${tileItems}
</ul>
<h2>Trend</h2>
${figure('open-trend')}
${figure('new-resolved')}
<h2>Time to fix</h2>
<div class="grid2">
${figure('time-to-fix')}
${figure('open-age')}
</div>
<h2>SLA breaches</h2>
<p class="note">Open findings whose age (time since first seen, by console scan time) is past their severity's limit, oldest first. A finding exactly at its limit is not yet a breach. ${breachNote}</p>
${breachTables(breachGrid(data))}
<h2>Where the risk is</h2>
${figure('top-vulnerabilities')}
${figure('riskiest-repositories')}
<p class="meta">Written ${escapeHtml(meta.generatedAt)} by prisma-registry-sync report. The numbers come from the SQL in docs/analytics.md over the export tables.</p>
</main>
</body>
</html>
`;
}

function mdTable(grid: Grid): string {
  const [head = [], ...body] = grid;
  const cell = (value: string) => value.replace(/\|/g, '\\|');
  return [
    `| ${head.map(cell).join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** The report as Markdown (pure): the same numbers as the HTML page, as tables. */
export function renderMarkdown(data: ReportData, meta: ReportMeta): string {
  const grids = tableGrids(data);
  const tileGrid: Grid = [['figure', 'value'], ...tiles(data).map((tile) => [tile.label, tile.value])];
  const section = (title: string, caption: string, id: string) =>
    `### ${title}\n\n${caption}\n\n${mdTable(grids[id] ?? [])}\n`;
  return [
    `# Registry vulnerability posture\n`,
    `${meta.scope} · as of ${data.params.asOf} · trend ${data.period.first} to ${data.period.last} (${data.params.days} days) · timelines by ${data.timeBase} · SLA: ${SEVERITIES.map((s) => `${s} ${data.params.sla[s]} days`).join(', ')}\n`,
    mdTable(tileGrid),
    `\n## Trend\n`,
    section('Open findings at the end of each day', 'By severity.', 'open-trend'),
    section('New and resolved findings per day', 'Resolved: fixed or image removed.', 'new-resolved'),
    `## Time to fix\n`,
    section('Days from first seen to fixed', 'Fixes within the period.', 'time-to-fix'),
    section('Age of open findings', 'Days since first seen, upper bound included.', 'open-age'),
    `## SLA breaches\n`,
    `${int(data.slaBreaches.total)} open findings past their limit (a finding exactly at its limit is not a breach), oldest first${data.slaBreaches.total > data.slaBreaches.rows.length ? `; the ${data.slaBreaches.rows.length} oldest listed` : ''}.\n`,
    data.slaBreaches.rows.length > 0 ? `${mdTable(breachGrid(data))}\n` : '',
    `## Where the risk is\n`,
    section('Top vulnerabilities by images affected', 'Open on current images.', 'top-vulnerabilities'),
    section(
      'Riskiest repositories',
      'Ranked by open criticals, then highs, mediums, lows.',
      'riskiest-repositories',
    ),
    `_Written ${meta.generatedAt} by prisma-registry-sync report._\n`,
  ].join('\n');
}
