/** Small HTTP helpers for the simulator tests: real requests over loopback with global fetch. */
import type { RunningSimulator } from '../../simulator/index.js';

export const API = '/api/v34.04';

export async function login(sim: RunningSimulator, username = 'demo', password = 'demo'): Promise<string> {
  const res = await fetch(`${sim.url}${API}/authenticate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`authenticate answered ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

export function basic(username: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

export interface Report {
  _id?: unknown;
  repoTag: { registry: string; repo: string; tag: string };
  [key: string]: unknown;
}

/** GET a /registry page; returns the parsed body and the response. */
export async function registryPage(
  sim: RunningSimulator,
  token: string,
  query: string,
): Promise<{ res: Response; reports: Report[] }> {
  const res = await fetch(`${sim.url}${API}/registry?${query}`, { headers: bearer(token) });
  const reports = (await res.json()) as Report[];
  return { res, reports };
}

export function keyOf(report: Report): string {
  return `${report.repoTag.registry}/${report.repoTag.repo}:${report.repoTag.tag}`;
}

/** Pages until a short page, the way a client does; returns every key in order. */
export async function pageAll(
  sim: RunningSimulator,
  token: string,
  limit = 50,
  extra = 'compact=true',
): Promise<string[]> {
  const keys: string[] = [];
  for (let offset = 0; ; offset += limit) {
    const { reports } = await registryPage(sim, token, `limit=${limit}&offset=${offset}&${extra}`);
    keys.push(...reports.map(keyOf));
    if (reports.length < limit) return keys;
  }
}
