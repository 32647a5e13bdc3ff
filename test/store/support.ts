import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  FindingRecord,
  NormalizedReport,
  Severity,
  SeverityCounts,
} from '../../lambda/common/records.js';
import { createStores, type Stores, type StoresOptions } from '../../lambda/store/index.js';
import { createTestTables, localDynamoClient, uniqueTablePrefix } from '../support/dynamo.js';

export const CONSOLE = 'console-a';

const sha = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/** A finding whose content hash follows its content, as the normalizer's does. */
export function finding(id: string, overrides: Partial<FindingRecord> = {}): FindingRecord {
  const base = {
    id,
    severity: 'high' as Severity,
    vendorSeverity: 'high',
    cvss: 7.5,
    packageName: `pkg-${id}`,
    packageVersion: '1.0.0',
    packageType: 'os',
    status: 'fixed in 1.0.1',
    fixDate: null,
    published: '2024-01-01T00:00:00.000Z',
    link: `https://nvd.nist.gov/vuln/detail/${id}`,
    title: null,
    description: `description of ${id}`,
    vector: null,
    riskFactors: ['Has fix'],
    ...overrides,
  };
  const key = `${base.id}|${base.packageName}|${base.packageVersion}`;
  const { key: _k, contentHash: _c, ...content } = { key, contentHash: '', ...base };
  return { ...base, key, contentHash: overrides.contentHash ?? sha(content) };
}

function countsOf(findings: FindingRecord[]): SeverityCounts {
  const counts = { critical: 0, high: 0, medium: 0, low: 0, total: findings.length };
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}

export interface ReportInput {
  consoleId?: string;
  registry?: string;
  repo?: string;
  tag?: string;
  digest?: string | null;
  scanTime?: string | null;
  findings?: FindingRecord[];
}

/** A NormalizedReport built by hand (the store never imports the normalizer). */
export function report(input: ReportInput = {}): NormalizedReport {
  const identity = {
    consoleId: input.consoleId ?? CONSOLE,
    registry: input.registry ?? 'registry.example.com',
    repo: input.repo ?? 'team/app',
    tag: input.tag ?? 'latest',
  };
  const findings = input.findings ?? [
    finding('CVE-2024-0001'),
    finding('CVE-2024-0002', { severity: 'critical' }),
  ];
  const digest = input.digest === undefined ? 'sha256:aaaa' : input.digest;
  return {
    image: {
      identity,
      reportId: digest ?? `${identity.repo}:${identity.tag}`,
      digest,
      imageId: digest,
      scanTime: input.scanTime === undefined ? '2024-05-01T10:00:00.000Z' : input.scanTime,
      tags: [{ registry: identity.registry, repo: identity.repo, tag: identity.tag, digest }],
      osDistro: 'debian',
      osDistroVersion: '12',
      scanVersion: '34.04',
      vulnerabilityCounts: countsOf(findings),
      complianceCounts: { critical: 0, high: 1, medium: 0, low: 0, total: 1 },
      packageCount: findings.length,
      contentHash: sha({ identity, digest, findings: findings.map((f) => f.contentHash) }),
    },
    findings,
    compliance: [
      {
        key: '41',
        id: '41',
        severity: 'high',
        vendorSeverity: 'high',
        title: 'root user',
        cause: null,
        type: 'image',
      },
    ],
    packages: findings.map((f) => ({
      type: 'os',
      name: f.packageName,
      version: f.packageVersion,
      license: null,
      path: null,
    })),
    warnings: [],
  };
}

/** The raw JSON a console could have served for a report (what the store keeps byte for byte). */
export function rawOf(normalized: NormalizedReport): string {
  const { identity, digest, scanTime } = normalized.image;
  return JSON.stringify({
    _id: digest,
    scanTime,
    repoTag: { registry: identity.registry, repo: identity.repo, tag: identity.tag },
    vulnerabilities: normalized.findings.map((f) => ({
      cve: f.id,
      severity: f.vendorSeverity,
      cvss: f.cvss,
      packageName: f.packageName,
      packageVersion: f.packageVersion,
      status: f.status,
      description: f.description,
    })),
  });
}

export const input = (normalized: NormalizedReport) => ({ normalized, rawJson: rawOf(normalized) });

/** Counts commands by name on a client and can fail any Scan (the store must never Scan). */
export interface Instrumented {
  commands: Map<string, number>;
  reset(): void;
}

export function instrument(client: DynamoDBClient): Instrumented {
  const commands = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      commands.set(name, (commands.get(name) ?? 0) + 1);
      if (name === 'ScanCommand')
        throw new Error('a Scan was sent: every store access must be a Query or GetItem');
      return next(args);
    },
    { step: 'initialize', name: 'countAndForbidScans', priority: 'high' },
  );
  return { commands, reset: () => commands.clear() };
}

export interface Harness {
  prefix: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  stores: Stores;
  calls: Instrumented;
  /** Stores of another console (or other options) over the same tables and client. */
  storesFor(consoleId: string, options?: Partial<StoresOptions>): Stores;
}

/** Tables under a fresh prefix, a client that refuses Scans, and stores over them. */
export async function harness(label: string, options: Partial<StoresOptions> = {}): Promise<Harness> {
  const prefix = uniqueTablePrefix(label);
  const client = localDynamoClient();
  await createTestTables(client, prefix);
  const calls = instrument(client);
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const storesFor = (consoleId: string, more: Partial<StoresOptions> = {}) =>
    createStores({
      client: doc,
      tablePrefix: prefix,
      consoleId,
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
      ...options,
      ...more,
    });
  return { prefix, client, doc, stores: storesFor(CONSOLE), calls, storesFor };
}

/** A clock tests move by hand. */
export function manualClock(start = '2024-06-01T00:00:00.000Z') {
  let current = Date.parse(start);
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
    set(iso: string) {
      current = Date.parse(iso);
    },
  };
}
