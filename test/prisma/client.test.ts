import { afterEach, describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import { type ConsoleClient, fetchScanProgress, RegistryPager } from '../../lambda/prisma/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { clientFor, registryGets } from './support.js';

let sim: RunningSimulator | undefined;
let client: ConsoleClient | undefined;

afterEach(async () => {
  await client?.close();
  await sim?.close();
  client = undefined;
  sim = undefined;
});

async function failure(promise: Promise<unknown>): Promise<SyncError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSyncError(error)) throw new Error(`expected a SyncError, got ${String(error)}`);
  return error;
}

describe('ConsoleClient authentication', () => {
  it('authenticates once and sends the token as Bearer on every request', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false });
    client = clientFor(sim);
    await client.getJson('/registry', { limit: 50 }, { what: 'page offset=0' });
    await client.getJson('/registry', { limit: 50 }, { what: 'page offset=0' });
    expect(sim.requestLog.map((e) => `${e.method} ${e.path} ${e.auth}`)).toEqual([
      'POST /api/v34.04/authenticate none',
      'GET /api/v34.04/registry bearer',
      'GET /api/v34.04/registry bearer',
    ]);
    expect(client.counters).toMatchObject({ requests: 3, authentications: 1, retries: 0, throttled: 0 });
  });

  it('shares one authentication between concurrent requests, also after the token expires', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false });
    client = clientFor(sim);
    const three = () =>
      Promise.all([1, 2, 3].map((n) => client!.getJson('/registry', { n }, { what: `request ${n}` })));
    await three();
    expect(client.counters.authentications).toBe(1);
    sim.setFaults({ scripted: [{ at: 4, fault: { kind: 'token-expiry' } }] });
    await three();
    expect(client.counters.authentications).toBe(2);
    expect(sim.requestLog.filter((e) => e.path.endsWith('/authenticate'))).toHaveLength(2);
  });

  it('refreshes the token before it expires', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false, tokenTtlMs: 300 });
    client = clientFor(sim, { tokenRefreshMs: 150 });
    await client.getJson('/registry', {}, { what: 'first' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.getJson('/registry', {}, { what: 'second' });
    expect(client.counters.authentications).toBe(2);
    expect(sim.requestLog.every((e) => e.status === 200)).toBe(true);
  });

  it('re-authenticates once when the token expires mid-run and resends the request', async () => {
    sim = await startSimulator({ images: 120, rateLimit: false, heavyFraction: 0 });
    sim.setFaults({ scripted: [{ at: 2, fault: { kind: 'token-expiry' } }] });
    client = clientFor(sim);
    let images = 0;
    for await (const page of new RegistryPager(client, { query: { compact: 'true' } }))
      images += page.reports.length;
    expect(images).toBe(120);
    expect(client.counters.authentications).toBe(2);
    expect(sim.requestLog.map((e) => e.status)).toEqual([200, 200, 401, 200, 200, 200]);
  });

  it('fails with client.auth on wrong credentials, without retrying and without quoting them', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false });
    client = clientFor(sim, { credentials: { username: 'demo', password: 'S3cret-Pa55' } });
    const error = await failure(client.getJson('/registry', {}, { what: 'page offset=0' }));
    expect(error.code).toBe('client.auth');
    expect(sim.requestLog).toHaveLength(1);
    const everything = JSON.stringify({
      message: error.message,
      details: error.details,
      log: (client as never as { log: unknown }).log,
    });
    expect(everything).not.toContain('S3cret-Pa55');
    expect(everything).not.toMatch(/Basic |Bearer /);
  });

  it('sends Basic auth on every request in basic mode, and fails with client.auth when it is refused', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false });
    client = clientFor(sim, { auth: 'basic' });
    await client.getJson('/registry', {}, { what: 'page offset=0' });
    await client.getJson('/registry', {}, { what: 'page offset=0' });
    expect(sim.requestLog.map((e) => e.auth)).toEqual(['basic', 'basic']);
    expect(client.counters.authentications).toBe(0);

    const wrong = clientFor(sim, { auth: 'basic', credentials: { username: 'demo', password: 'nope-nope' } });
    const error = await failure(wrong.getJson('/registry', {}, { what: 'page offset=0' }));
    await wrong.close();
    expect(error.code).toBe('client.auth');
    expect(error.message).not.toContain('nope-nope');
  });

  it('does not show the password when the client object is logged', async () => {
    sim = await startSimulator({ images: 1, rateLimit: false });
    client = clientFor(sim, { credentials: { username: 'demo', password: 'demo-hidden-pw' } });
    expect(JSON.stringify(Object.keys(client))).not.toContain('credentials');
  });
});

describe('ConsoleClient URLs and versions', () => {
  it('talks to a console behind a path prefix', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false, pathPrefix: '/us-1-111111111' });
    client = clientFor(sim);
    expect(sim.url.endsWith('/us-1-111111111')).toBe(true);
    const { body, status } = await client.getJson('/registry', {}, { what: 'page offset=0' });
    expect(status).toBe(200);
    expect(body).toHaveLength(3);
  });

  it('uses the legacy /api/v1 paths when the API version is v1', async () => {
    sim = await startSimulator({ images: 3, rateLimit: false });
    client = clientFor(sim, { apiVersion: 'v1' });
    await client.getJson('/registry', {}, { what: 'page offset=0' });
    expect(sim.requestLog.map((e) => e.path)).toEqual(['/api/v1/authenticate', '/api/v1/registry']);
  });

  it('accepts gzip and counts the compressed bytes', async () => {
    sim = await startSimulator({ images: 50, rateLimit: false, heavyFraction: 0 });
    client = clientFor(sim);
    const { body } = await client.getJson('/registry', { limit: 50 }, { what: 'page offset=0' });
    const decoded = Buffer.byteLength(JSON.stringify(body));
    expect(client.counters.bytes).toBeGreaterThan(0);
    expect(client.counters.bytes).toBeLessThan(decoded / 2);
  });

  it('fails with client.http on a 4xx that is not 401 or 429, without retrying', async () => {
    sim = await startSimulator({ images: 1, rateLimit: false });
    client = clientFor(sim);
    const error = await failure(
      client.getJson('/registry', { offset: -1 }, { what: 'page offset=-1', offset: -1 }),
    );
    expect(error.code).toBe('client.http');
    expect(error.details).toMatchObject({ status: 400 });
    expect(error.message).toContain('invalid offset');
    expect(registryGets(sim)).toHaveLength(1);
  });
});

describe('fetchScanProgress', () => {
  it('reads the regular scan progress', async () => {
    sim = await startSimulator({ images: 1, rateLimit: false });
    sim.setScanProgress({
      regular: {
        ongoing: true,
        registries: [
          {
            registry: 'us-west2-docker.pkg.dev',
            discovery: { total: 4, scanned: 2 },
            imageScan: { total: 2, scanned: 0 },
          },
        ],
      },
    });
    client = clientFor(sim);
    const [entry] = await fetchScanProgress(client);
    expect(entry?.isScanOngoing).toBe(true);
    expect(entry?.discovery).toMatchObject({ total: 4, scanned: 2 });
    expect(entry?.imageScan?.title).toContain('Scanned 0/2 images');
  });

  it('shows a completed on-demand scan once, then an empty list', async () => {
    sim = await startSimulator({ images: 1, rateLimit: false });
    sim.setScanProgress({ onDemand: [{ repo: 'library/alpine', tag: '3.16', ongoing: false }] });
    client = clientFor(sim);
    const query = { onDemand: true, repo: 'library/alpine', tag: '3.16' };
    expect((await fetchScanProgress(client, query))[0]?.isScanOngoing).toBe(false);
    expect(await fetchScanProgress(client, query)).toEqual([]);
    expect(sim.requestLog.at(-1)?.query).toEqual({ onDemand: 'true', repo: 'library/alpine', tag: '3.16' });
  });

  it('refuses the queries the console answers 400 to, without sending them', async () => {
    sim = await startSimulator({ images: 1, rateLimit: false });
    client = clientFor(sim);
    expect((await failure(fetchScanProgress(client, { onDemand: true, repo: 'a' }))).code).toBe(
      'client.options',
    );
    expect((await failure(fetchScanProgress(client, { repo: 'a', tag: 'b' }))).code).toBe('client.options');
    expect(sim.requestLog).toHaveLength(0);
  });
});
