import type { Logger } from '../common/logger.js';
import { escapeControl } from '../common/redact.js';
import { nameSettings } from '../config.js';
import type { QuarantineEntry, SyncProgress } from '../sync/engine.js';

/** Where the CLI writes: results on stdout, everything else on stderr (so `--json` stays parseable). */
export interface Output {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export const processOutput: Output = { stdout: process.stdout, stderr: process.stderr };

export function printJson(out: Output, value: unknown): void {
  out.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Plain stderr log lines; debug/info only when verbose. Structured data is appended as JSON. */
export function stderrLogger(out: Output, options: { verbose: boolean }): Logger {
  const write = (level: string, message: string, data?: Record<string, unknown>) => {
    const suffix = data && Object.keys(data).length > 0 ? ` ${JSON.stringify(data)}` : '';
    // Messages may quote console text: control characters are escaped (JSON data is already). The
    // settings lower layers name become the variables an operator sets.
    out.stderr.write(nameSettings(`${level} ${escapeControl(message, { newlines: false })}${suffix}\n`));
  };
  return {
    debug: (m, d) => options.verbose && write('debug', m, d),
    info: (m, d) => options.verbose && write('info', m, d),
    warn: (m, d) => write('warn', m, d),
    error: (m, d) => write('error', m, d),
  };
}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * Progress of a sync: a redrawn bar on a TTY (pages / total when the console says it, images/s,
 * ETA, 429s), one plain line per 10 pages otherwise.
 */
export function progressReporter(
  out: Output,
  pageSize = 50,
): { update(p: SyncProgress): void; done(): void } {
  const tty = out.stderr.isTTY === true;
  let drawn = false;
  return {
    update(p) {
      const rate = p.elapsedMs > 0 ? (p.images / p.elapsedMs) * 1000 : 0;
      const totalPages =
        p.totalCount !== undefined ? Math.max(1, Math.ceil(p.totalCount / pageSize)) : undefined;
      const remainingImages = p.totalCount !== undefined ? Math.max(0, p.totalCount - p.images) : undefined;
      const eta =
        remainingImages !== undefined && rate > 0 ? formatDuration((remainingImages / rate) * 1000) : '?';
      if (tty) {
        const width = 24;
        const ratio = totalPages ? Math.min(1, p.pages / totalPages) : 0;
        const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '.');
        const pages = totalPages ? `${p.pages}/${totalPages}` : `${p.pages}`;
        out.stderr.write(
          `\r[${bar}] pages ${pages}  images ${p.images}  ${rate.toFixed(1)} img/s  ETA ${eta}  429s ${p.throttled}   `,
        );
        drawn = true;
      } else if (p.pages % 10 === 0) {
        out.stderr.write(
          `progress pages=${p.pages} images=${p.images} rate=${rate.toFixed(1)}/s 429s=${p.throttled}\n`,
        );
      }
    },
    done() {
      if (drawn) out.stderr.write('\n');
    },
  };
}

/** A fixed-width text table for human output. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)\n';
  // Cells hold console text (repo names, tags): control characters are escaped.
  const cell = (v: unknown) =>
    v === null || v === undefined
      ? ''
      : escapeControl(typeof v === 'object' ? JSON.stringify(v) : String(v), { newlines: false });
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n')}\n`;
}

/**
 * Quarantined reports for a terminal, one line each ('' when none): what, where, why, and the
 * digest of the raw report. Entries are console text: control characters are escaped again here.
 *
 * @example
 * out.stdout.write(quarantineLines(result.quarantine, result.quarantined));
 */
export function quarantineLines(entries: readonly QuarantineEntry[], total = entries.length): string {
  if (total === 0) return '';
  const lines = entries.map((q) => {
    const what =
      q.key ?? (q.reportId === undefined ? '(no image name)' : `(no image name; _id ${q.reportId})`);
    const digest = q.sha256 ? `sha256:${q.sha256}` : 'no digest';
    return `  ${what} at offset ${q.offset} #${q.index}: ${q.code}: ${q.reason} (${digest})`;
  });
  const more = total > entries.length ? [`  ... and ${total - entries.length} more (not listed)`] : [];
  const text = [`${total} quarantined report(s):`, ...lines, ...more];
  return `${text.map((line) => escapeControl(line, { newlines: false })).join('\n')}\n`;
}
