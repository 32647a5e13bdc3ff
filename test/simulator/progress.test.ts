import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, bearer, login } from './helpers.js';

describe('GET /registry/progress', () => {
  let sim: RunningSimulator;
  let token: string;
  const progress = async (query = '') => {
    const res = await fetch(`${sim.url}${API}/registry/progress${query === '' ? '' : `?${query}`}`, {
      headers: bearer(token),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  beforeAll(async () => {
    sim = await startSimulator({ images: 1, rateLimit: false });
    token = await login(sim);
  });
  afterAll(async () => {
    await sim.close();
  });

  it('shows no ongoing scan when none runs', async () => {
    const { status, body } = await progress();
    expect(status).toBe(200);
    expect(body).toEqual([
      expect.objectContaining({ isScanOngoing: false, specScanStartTime: '0001-01-01T00:00:00Z' }),
    ]);
  });

  it('shows the discovery and image-scan steps of an ongoing regular scan, per registry, as in the seed', async () => {
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
    const { body } = await progress();
    expect(body).toEqual([
      {
        discovery: {
          id: '',
          type: '',
          discovery: false,
          total: 4,
          scanned: 2,
          title:
            'Step 1/2 discovering tags in registry us-west2-docker.pkg.dev: Discovered tags in 2/4 repositories with 1 Defenders',
        },
        imageScan: {
          id: '',
          type: '',
          discovery: false,
          total: 2,
          scanned: 0,
          title:
            'Step 2/2 scanning images in registry us-west2-docker.pkg.dev: Scanned 0/2 images with 1 Defender',
        },
        isScanOngoing: true,
        specScanStartTime: '0001-01-01T00:00:00Z',
      },
    ]);
    sim.setScanProgress({ regular: { ongoing: false } });
  });

  it.each([
    'registry=gcr.io',
    'repo=library/alpine',
    'tag=3.16',
    'digest=sha256:abc',
    'onDemand=false&repo=library/alpine&tag=3.16',
  ])('answers 400 to on-demand parameters without onDemand=true (%s)', async (query) => {
    expect((await progress(query)).status).toBe(400);
  });

  it.each(['onDemand=true', 'onDemand=true&repo=library/alpine', 'onDemand=true&tag=3.16'])(
    'answers 400 to onDemand=true without repo and tag or digest (%s)',
    async (query) => {
      expect((await progress(query)).status).toBe(400);
    },
  );

  it('shows an ongoing on-demand scan, then its completion once, then []', async () => {
    const query = 'onDemand=true&repo=library/alpine&tag=3.16';
    sim.setScanProgress({ onDemand: [{ repo: 'library/alpine', tag: '3.16', ongoing: true }] });
    const ongoing = await progress(query);
    expect(ongoing.body).toEqual([
      expect.objectContaining({
        isScanOngoing: true,
        discovery: expect.objectContaining({
          title: 'Step 1/2 discovering tags in repository: library/alpine, tag: 3.16',
        }),
        imageScan: expect.objectContaining({ total: 1, scanned: 0 }),
      }),
    ]);
    expect((await progress(query)).body).toHaveLength(1);

    sim.setScanProgress({ onDemand: [{ repo: 'library/alpine', tag: '3.16', ongoing: false }] });
    expect((await progress(query)).body).toEqual([
      expect.objectContaining({
        isScanOngoing: false,
        imageScan: expect.objectContaining({ total: 1, scanned: 1 }),
      }),
    ]);
    expect((await progress(query)).body).toEqual([]);
    expect((await progress(query)).body).toEqual([]);
    // Reporting the same completed state again does not bring it back.
    sim.setScanProgress({ onDemand: [{ repo: 'library/alpine', tag: '3.16', ongoing: false }] });
    expect((await progress(query)).body).toEqual([]);

    // A new on-demand scan of that image shows up again.
    sim.setScanProgress({ onDemand: [{ repo: 'library/alpine', tag: '3.16', ongoing: true }] });
    expect((await progress(query)).body).toEqual([expect.objectContaining({ isScanOngoing: true })]);
  });

  it('finds an on-demand scan by digest', async () => {
    sim.setScanProgress({ onDemand: [{ repo: 'web/api', digest: 'sha256:feed', ongoing: true }] });
    const { body } = await progress('onDemand=true&repo=web/api&digest=sha256:feed');
    expect(body).toEqual([
      expect.objectContaining({
        discovery: expect.objectContaining({
          title: 'Step 1/2 discovering tags in repository: web/api, digest: sha256:feed',
        }),
      }),
    ]);
  });

  it('answers [] for an image that was never scanned on demand', async () => {
    expect((await progress('onDemand=true&repo=never/scanned&tag=1')).body).toEqual([]);
  });
});
