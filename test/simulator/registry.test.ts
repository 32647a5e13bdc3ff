import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, bearer, keyOf, login, pageAll, registryPage } from './helpers.js';

describe('GET /registry', () => {
  let sim: RunningSimulator;
  let token: string;

  beforeAll(async () => {
    sim = await startSimulator({ images: 237, seed: 3, rateLimit: false, heavyFraction: 0 });
    token = await login(sim);
  });
  afterAll(async () => {
    await sim.close();
  });

  it('serves each image exactly once across pages when nothing mutates', async () => {
    const keys = await pageAll(sim, token);
    expect(keys).toHaveLength(237);
    expect(new Set(keys).size).toBe(237);
    expect(new Set(keys)).toEqual(new Set(sim.truth.present()));
  });

  it('serves the images in byte order of registry/repo:tag', async () => {
    const keys = await pageAll(sim, token, 37);
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(keys).toEqual(sorted);
    expect(keys).toEqual(sim.truth.present());
  });

  it('caps a page at 50 even when a larger limit is asked for', async () => {
    const { reports } = await registryPage(sim, token, 'limit=500&offset=0&compact=true');
    expect(reports).toHaveLength(50);
  });

  it('serves 50 reports when no limit is given', async () => {
    const { reports } = await registryPage(sim, token, 'compact=true');
    expect(reports).toHaveLength(50);
  });

  it('serves a short last page and an empty page past the end', async () => {
    expect((await registryPage(sim, token, 'limit=50&offset=200&compact=true')).reports).toHaveLength(37);
    expect((await registryPage(sim, token, 'limit=50&offset=237&compact=true')).reports).toEqual([]);
  });

  it('carries the number of matching images in Total-Count', async () => {
    const { res } = await registryPage(sim, token, 'limit=10&compact=true');
    expect(res.headers.get('Total-Count')).toBe('237');
  });

  it('answers 400 on a negative or non-numeric offset', async () => {
    expect((await fetch(`${sim.url}${API}/registry?offset=-1`, { headers: bearer(token) })).status).toBe(400);
    expect((await fetch(`${sim.url}${API}/registry?offset=abc`, { headers: bearer(token) })).status).toBe(
      400,
    );
  });

  it('reverses the order with reverse=true', async () => {
    const forward = await pageAll(sim, token);
    const backward = await pageAll(sim, token, 50, 'compact=true&reverse=true');
    expect(backward).toEqual([...forward].reverse());
  });

  it('drops vulnerabilities, compliance issues and packages with compact=true', async () => {
    const { reports } = await registryPage(sim, token, 'limit=5&compact=true');
    for (const report of reports) {
      expect(report).not.toHaveProperty('vulnerabilities');
      expect(report).not.toHaveProperty('complianceIssues');
      expect(report).not.toHaveProperty('packages');
      expect(report).toHaveProperty('vulnerabilitiesCount');
    }
    const full = await registryPage(sim, token, 'limit=5');
    expect(full.reports.every((r) => 'vulnerabilities' in r)).toBe(true);
  });

  it('projects fields=repoTag.repo,labels onto _id and those paths', async () => {
    const { reports } = await registryPage(sim, token, 'limit=3&fields=repoTag.repo,labels');
    for (const report of reports) {
      expect(Object.keys(report).sort()).toEqual(expect.arrayContaining(['_id', 'repoTag']));
      expect(Object.keys(report.repoTag)).toEqual(['repo']);
    }
  });

  it('filters by registry, repository, name, imageID and id', async () => {
    const present = sim.truth.present();
    const sample = sim.truth.report(present[100]!) as {
      _id: string;
      id: string;
      repoTag: { registry: string; repo: string; tag: string };
    };
    const { registry, repo, tag } = sample.repoTag;

    const byRegistry = await registryPage(
      sim,
      token,
      `registry=${encodeURIComponent(registry)}&compact=true&limit=50`,
    );
    expect(byRegistry.reports.length).toBeGreaterThan(0);
    expect(byRegistry.reports.every((r) => r.repoTag.registry === registry)).toBe(true);

    const byRepo = await registryPage(sim, token, `repository=${encodeURIComponent(repo)}&compact=true`);
    expect(byRepo.reports.every((r) => r.repoTag.repo === repo)).toBe(true);
    expect(byRepo.reports.map(keyOf)).toContain(present[100]);

    const fullName = registry === '' ? `${repo}:${tag}` : `${registry}/${repo}:${tag}`;
    const byName = await registryPage(sim, token, `name=${encodeURIComponent(fullName)}&compact=true`);
    expect(byName.reports.map(keyOf)).toEqual([present[100]]);
    expect(byName.res.headers.get('Total-Count')).toBe('1');

    const byImageId = await registryPage(sim, token, `imageID=${encodeURIComponent(sample.id)}&compact=true`);
    expect(byImageId.reports.map(keyOf)).toContain(present[100]);
    expect(byImageId.reports.every((r) => r.id === sample.id)).toBe(true);

    const byId = await registryPage(sim, token, `id=${encodeURIComponent(sample._id)}&compact=true`);
    expect(byId.reports.every((r) => r._id === sample._id)).toBe(true);
  });

  it('sorts by scanTime with sort=scanTime', async () => {
    const { reports } = await registryPage(sim, token, 'sort=scanTime&compact=true&limit=50');
    const times = reports.map((r) => r.scanTime as string);
    expect(times).toEqual([...times].sort());
  });

  it('answers gzip to a client that accepts it', async () => {
    const { request } = await import('node:http');
    const url = new URL(`${sim.url}${API}/registry?limit=50`);
    const encoding = await new Promise<string | undefined>((resolve, reject) => {
      const req = request(url, { headers: { ...bearer(token), 'Accept-Encoding': 'gzip' } }, (res) => {
        res.resume();
        resolve(res.headers['content-encoding']);
      });
      req.on('error', reject);
      req.end();
    });
    expect(encoding).toBe('gzip');
  });
});

describe('GET /registry without Total-Count', () => {
  it('leaves the Total-Count header out when switched off', async () => {
    const sim = await startSimulator({ images: 10, rateLimit: false, totalCountHeader: false });
    try {
      const token = await login(sim);
      const { res, reports } = await registryPage(sim, token, 'limit=50');
      expect(res.headers.has('Total-Count')).toBe(false);
      expect(reports).toHaveLength(10);
    } finally {
      await sim.close();
    }
  });
});

describe('URLs', () => {
  it('serves under a path prefix and not outside it', async () => {
    const sim = await startSimulator({ images: 5, rateLimit: false, pathPrefix: '/us-1-111111111/' });
    try {
      expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/us-1-111111111$/);
      const token = await login(sim);
      expect((await registryPage(sim, token, 'limit=50')).reports).toHaveLength(5);
      const outside = await fetch(`http://127.0.0.1:${sim.port}${API}/registry`, { headers: bearer(token) });
      expect(outside.status).toBe(404);
    } finally {
      await sim.close();
    }
  });

  it('answers the legacy /api/v1 paths and any v<major>.<minor>', async () => {
    const sim = await startSimulator({ images: 5, rateLimit: false });
    try {
      const token = await login(sim);
      for (const version of ['v1', 'v33.03', 'v32.07']) {
        const res = await fetch(`${sim.url}/api/${version}/registry?limit=2`, { headers: bearer(token) });
        expect(res.status).toBe(200);
        expect(await res.json()).toHaveLength(2);
      }
      expect((await fetch(`${sim.url}/api/latest/registry`, { headers: bearer(token) })).status).toBe(404);
    } finally {
      await sim.close();
    }
  });
});

describe('latency', () => {
  it('delays every response by latencyMs', async () => {
    const sim = await startSimulator({ images: 2, rateLimit: false, latencyMs: 120 });
    try {
      const started = performance.now();
      const res = await fetch(`${sim.url}${API}/registry`, {
        headers: { Authorization: 'Basic ZGVtbzpkZW1v' },
      });
      expect(res.status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(115);
    } finally {
      await sim.close();
    }
  });
});

describe('options', () => {
  it.each([
    [{ images: -1 }, /images/],
    [{ images: 1.5 }, /images/],
    [{ rateLimit: { requests: 0, windowMs: 1000 } }, /rateLimit/],
    [{ heavyFraction: 2 }, /heavyFraction/],
    [{ tokenTtlMs: 0 }, /tokenTtlMs/],
  ])('rejects %o with a sim.invalidOptions error', async (options, message) => {
    await expect(startSimulator(options)).rejects.toMatchObject({
      code: 'sim.invalidOptions',
      message: expect.stringMatching(message),
    });
  });
});

describe('compression switched off', () => {
  it('serves identity bodies with gzip: false even to a client that accepts gzip', async () => {
    const { request } = await import('node:http');
    const sim = await startSimulator({ images: 60, rateLimit: false, gzip: false });
    try {
      const url = new URL(`${sim.url}${API}/registry?limit=50`);
      const encoding = await new Promise<string | undefined>((resolve, reject) => {
        const req = request(
          url,
          { headers: { Authorization: 'Basic ZGVtbzpkZW1v', 'Accept-Encoding': 'gzip' } },
          (res) => {
            res.resume();
            resolve(res.headers['content-encoding']);
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(encoding).toBeUndefined();
    } finally {
      await sim.close();
    }
  });
});
