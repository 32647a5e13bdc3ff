import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../simulator/index.js';
import { API, basic, bearer, login } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('authentication', () => {
  it('issues a token for the right credentials and 401 for wrong ones', async () => {
    const sim = await startSimulator({ images: 1, rateLimit: false, username: 'alice', password: 's3cret' });
    try {
      const token = await login(sim, 'alice', 's3cret');
      expect(token).toMatch(/^sim\./);
      const wrong = await fetch(`${sim.url}${API}/authenticate`, {
        method: 'POST',
        body: JSON.stringify({ username: 'alice', password: 'nope' }),
      });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).not.toContain('s3cret');
      const malformed = await fetch(`${sim.url}${API}/authenticate`, { method: 'POST', body: '{not json' });
      expect(malformed.status).toBe(400);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: bearer(token) })).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it('answers 401 without credentials, with an unknown token and with wrong basic credentials', async () => {
    const sim = await startSimulator({ images: 1, rateLimit: false });
    try {
      expect((await fetch(`${sim.url}${API}/registry`)).status).toBe(401);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: bearer('sim.forged') })).status).toBe(401);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: basic('demo', 'wrong') })).status).toBe(
        401,
      );
      expect((await fetch(`${sim.url}${API}/registry/progress`)).status).toBe(401);
    } finally {
      await sim.close();
    }
  });

  it('accepts basic auth', async () => {
    const sim = await startSimulator({ images: 3, rateLimit: false });
    try {
      const res = await fetch(`${sim.url}${API}/registry`, { headers: basic('demo', 'demo') });
      expect(res.status).toBe(200);
      expect(await res.json()).toHaveLength(3);
      expect(sim.requestLog.map((e) => e.auth)).toEqual(['basic']);
    } finally {
      await sim.close();
    }
  });

  it('keeps rejecting wrong basic credentials after accepting the right ones', async () => {
    const sim = await startSimulator({ images: 1, rateLimit: false });
    try {
      const status = async (user: string, pass: string) =>
        (await fetch(`${sim.url}${API}/registry`, { headers: basic(user, pass) })).status;
      expect(await status('demo', 'demo')).toBe(200);
      expect(await status('demo', 'demO')).toBe(401);
      expect(await status('demo', 'dem')).toBe(401);
      expect(await status('demo', 'demo')).toBe(200);
      expect(await status('Demo', 'demo')).toBe(401);
    } finally {
      await sim.close();
    }
  });

  it('rejects a bearer token once it is older than tokenTtlMs', async () => {
    const sim = await startSimulator({ images: 1, rateLimit: false, tokenTtlMs: 300 });
    try {
      const token = await login(sim);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: bearer(token) })).status).toBe(200);
      await sleep(350);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: bearer(token) })).status).toBe(401);
      const fresh = await login(sim);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: bearer(fresh) })).status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});
