import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Lower layers speak of settings and options; only the shells (the CLI, the Lambda handlers, the
 * configuration they parse and the wiring they share) name environment variables and CLI flags
 * (docs/architecture.md, "One name per concept"). This test reads every string and template text
 * of the lower layers' code (comments aside) and fails on either.
 */
const LOWER_LAYERS = ['common', 'prisma', 'normalize', 'store', 'sync', 'export', 'report'];

/** Shell modules inside those folders. */
const SHELLS = new Set(['lambda/export/cli.ts', 'lambda/export/aws/handler.ts', 'lambda/report/cli.ts']);

/** Texts that look like a name but are not one an operator sets (each with its reason). */
const ALLOWED = new Map<string, RegExp>([
  // A column's meaning in the export schema (docs/analytics.md), not a message.
  ['lambda/export/schema.ts', /^Console the image belongs to \(`PRISMA_CONSOLE_ID`\)\.$/],
  // A V8 flag the shells apply to their own process, not a flag of this CLI.
  ['lambda/sync/process-tuning.ts', /^--heap-growing-percent=\d+$/],
  // CSS custom properties of the report page (`--sev: …`, `--bg: …`).
  ['lambda/report/render.ts', /(?:^|[\s;{"])--[a-z]+: /],
]);

const VARIABLE = /\b(?:PRISMA|SYNC|AWS)_[A-Z][A-Z0-9_]*\b/;
const FLAG = /(?:^|[\s(`'"])--[a-z][a-z-]*/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every string literal and template text of a file, with its line. */
function textsOf(path: string): Array<{ line: number; text: string }> {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const texts: Array<{ line: number; text: string }> = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      texts.push({ line, text: node.text });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return texts;
}

function namings(): string[] {
  const root = process.cwd();
  const found: string[] = [];
  for (const folder of LOWER_LAYERS) {
    for (const path of sourceFiles(join(root, 'lambda', folder))) {
      const file = relative(root, path);
      if (SHELLS.has(file)) continue;
      for (const { line, text } of textsOf(path)) {
        if (!VARIABLE.test(text) && !FLAG.test(text)) continue;
        if (ALLOWED.get(file)?.test(text)) continue;
        found.push(`${file}:${line}: ${JSON.stringify(text)}`);
      }
    }
  }
  return found;
}

describe('lower layers name settings, not variables or flags', () => {
  it('no string of lambda/{common,prisma,normalize,store,sync,export,report} names an environment variable or a CLI flag', () => {
    expect(namings()).toEqual([]);
  });

  it('reads the texts it judges (the rule is not vacuous)', () => {
    const shell = textsOf(join(process.cwd(), 'lambda/config.ts')).map((t) => t.text);
    expect(shell.some((text) => VARIABLE.test(text))).toBe(true);
    const cli = textsOf(join(process.cwd(), 'lambda/report/cli.ts')).map((t) => t.text);
    expect(cli.some((text) => FLAG.test(text))).toBe(true);
  });
});
