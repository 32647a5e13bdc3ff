import { afterEach, describe, expect, it } from 'vitest';
import { FaultInjector } from '../../simulator/faults.js';
import { type Fault, type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, basic } from './helpers.js';

const auth = basic('demo', 'demo');
let sim: RunningSimulator | undefined;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A simulator whose 2nd /registry GET gets `fault`; returns the response (or the fetch error) of that GET. */
async function faultedSecondGet(fault: Fault): Promise<{ res?: Response; text?: string; error?: unknown }> {
  sim = await startSimulator({
    images: 60,
    rateLimit: false,
    heavyFraction: 0,
    faults: { scripted: [{ at: 2, fault }] },
  });
  const get = () => fetch(`${sim!.url}${API}/registry?limit=50`, { headers: auth });
  expect((await get()).status).toBe(200);
  try {
    const res = await get();
    return { res, text: await res.text() };
  } catch (error) {
    return { error };
  }
}

describe('fault injection', () => {
  it('answers 429 with Retry-After for a scripted 429, and without it when asked', async () => {
    const withHeader = await faultedSecondGet({ kind: '429', retryAfterSeconds: 7 });
    expect(withHeader.res?.status).toBe(429);
    expect(withHeader.res?.headers.get('Retry-After')).toBe('7');
    await sim?.close();
    const without = await faultedSecondGet({ kind: '429', retryAfter: false });
    expect(without.res?.status).toBe(429);
    expect(without.res?.headers.has('Retry-After')).toBe(false);
  });

  it.each([500, 502, 503, 504] as const)('answers %i with an HTML page for 5xx-html', async (status) => {
    const { res, text } = await faultedSecondGet({ kind: '5xx-html', status });
    expect(res?.status).toBe(status);
    expect(res?.headers.get('Content-Type')).toBe('text/html');
    expect(text).toMatch(/^<html>/);
  });

  it('drops the connection before any byte for reset', async () => {
    const { error } = await faultedSecondGet({ kind: 'reset' });
    expect(error).toBeInstanceOf(TypeError);
    expect(sim!.requestLog[1]).toMatchObject({ status: 0, fault: 'reset' });
  });

  it('sends headers and part of the body, then drops the connection, for truncate', async () => {
    sim = await startSimulator({
      images: 60,
      rateLimit: false,
      heavyFraction: 0,
      faults: { scripted: [{ at: 1, fault: { kind: 'truncate' } }] },
    });
    const res = await fetch(`${sim.url}${API}/registry?limit=50`, { headers: auth });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('Content-Length'))).toBeGreaterThan(1000);
    await expect(res.text()).rejects.toThrow();
  });

  it('delays the first byte for slow, then serves the page', async () => {
    const started = performance.now();
    const { res, text } = await faultedSecondGet({ kind: 'slow', ms: 250 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(res?.status).toBe(200);
    expect(JSON.parse(text!)).toHaveLength(50);
  });

  it('serves a complete body that is not JSON for malformed-json', async () => {
    const { res, text } = await faultedSecondGet({ kind: 'malformed-json' });
    expect(res?.status).toBe(200);
    expect(() => JSON.parse(text!)).toThrow(SyntaxError);
  });

  it.each([
    ['vulnerabilities-string', (r: Record<string, unknown>) => expect(r.vulnerabilities).toBe('x')],
    ['repoTag-number', (r: Record<string, unknown>) => expect(r.repoTag).toBe(5)],
    ['missing-id', (r: Record<string, unknown>) => expect(r).not.toHaveProperty('_id')],
  ] as const)('serves valid JSON with a wrong shape for schema-drift %s', async (drift, check) => {
    const { res, text } = await faultedSecondGet({ kind: 'schema-drift', drift });
    expect(res?.status).toBe(200);
    const page = JSON.parse(text!) as Array<Record<string, unknown>>;
    expect(page).toHaveLength(50);
    check(page[0]!);
  });

  it('invalidates every token for token-expiry, so a fresh login is needed', async () => {
    sim = await startSimulator({
      images: 5,
      rateLimit: false,
      faults: { scripted: [{ at: 2, fault: { kind: 'token-expiry' } }] },
    });
    const login = await fetch(`${sim.url}${API}/authenticate`, {
      method: 'POST',
      body: JSON.stringify({ username: 'demo', password: 'demo' }),
    });
    const { token } = (await login.json()) as { token: string };
    const get = () => fetch(`${sim!.url}${API}/registry`, { headers: { Authorization: `Bearer ${token}` } });
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(401);
    expect((await get()).status).toBe(401);
    expect(sim.requestLog.map((e) => e.fault)).toEqual([undefined, undefined, 'token-expiry', undefined]);
  });

  it('serves 200 with an empty body for empty-200', async () => {
    const { res, text } = await faultedSecondGet({ kind: 'empty-200' });
    expect(res?.status).toBe(200);
    expect(text).toBe('');
  });

  it('serves 200 with an HTML page for html-200', async () => {
    const { res, text } = await faultedSecondGet({ kind: 'html-200' });
    expect(res?.status).toBe(200);
    expect(res?.headers.get('Content-Type')).toContain('text/html');
    expect(text).toContain('<!DOCTYPE html>');
  });

  it('fires each scripted fault exactly once and logs it', async () => {
    sim = await startSimulator({
      images: 5,
      rateLimit: false,
      faults: {
        scripted: [
          { at: 2, fault: { kind: '5xx-html', status: 503 } },
          { at: { request: 4 }, fault: { kind: 'html-200' } },
        ],
      },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await fetch(`${sim.url}${API}/registry`, { headers: auth })).status);
    expect(statuses).toEqual([200, 503, 200, 200, 200, 200]);
    expect(sim.requestLog.map((e) => e.fault ?? '')).toEqual(['', '5xx-html:503', '', 'html-200', '', '']);
  });

  it('replaces the plan with setFaults', async () => {
    sim = await startSimulator({ images: 5, rateLimit: false });
    sim.setFaults({ scripted: [{ at: 1, fault: { kind: 'empty-200' } }] });
    expect(await (await fetch(`${sim.url}${API}/registry`, { headers: auth })).text()).toBe('');
  });

  it('draws random faults reproducibly from the seed, on /registry GETs only', () => {
    const plan = {
      random: { probability: 0.3, seed: 9, faults: ['reset', '429', 'slow'] as Fault['kind'][] },
    };
    const draw = () => {
      const injector = new FaultInjector(plan);
      return Array.from(
        { length: 200 },
        (_, i) => injector.next({ request: i + 1, registryGet: i + 1 })?.kind ?? '-',
      );
    };
    const first = draw();
    expect(draw()).toEqual(first);
    const hits = first.filter((k) => k !== '-').length;
    expect(hits).toBeGreaterThan(35);
    expect(hits).toBeLessThan(85);
    expect(new Set(first)).toEqual(new Set(['-', 'reset', '429', 'slow']));
    expect(new FaultInjector(plan).next({ request: 1, registryGet: undefined })).toBeUndefined();
  });

  it('injects random faults over HTTP', async () => {
    sim = await startSimulator({
      images: 5,
      rateLimit: false,
      faults: { random: { probability: 0.5, seed: 4, faults: ['5xx-html'] } },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++)
      statuses.push((await fetch(`${sim.url}${API}/registry`, { headers: auth })).status);
    expect(statuses).toContain(502);
    expect(statuses).toContain(200);
    expect(sim.requestLog.filter((e) => e.fault !== undefined).map((e) => e.status)).toEqual(
      statuses.filter((s) => s === 502),
    );
  });
});
