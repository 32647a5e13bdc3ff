import { describe, expect, it } from 'vitest';
import { ConsoleUrls } from '../../lambda/prisma/url.js';

describe('ConsoleUrls', () => {
  it('keeps a SaaS path prefix and ignores a trailing slash', () => {
    const urls = new ConsoleUrls('https://us-east1.cloud.twistlock.com/us-1-111111111/', 'v34.04');
    expect(urls.target('/registry', { offset: 50, limit: 50 })).toEqual({
      origin: 'https://us-east1.cloud.twistlock.com',
      path: '/us-1-111111111/api/v34.04/registry?offset=50&limit=50',
    });
  });

  it('builds the legacy /api/v1 paths and leaves out undefined query values', () => {
    const urls = new ConsoleUrls('http://127.0.0.1:8083', 'v1');
    expect(
      urls.target('registry/progress', { onDemand: true, repo: 'library/alpine', tag: undefined }).path,
    ).toBe('/api/v1/registry/progress?onDemand=true&repo=library%2Falpine');
    expect(urls.target('authenticate').path).toBe('/api/v1/authenticate');
  });

  it('rejects a URL with credentials without echoing them', () => {
    expect(() => new ConsoleUrls('https://admin:hunter2@console.example.com', 'v34.04')).toThrow(
      /must not carry credentials/,
    );
    try {
      new ConsoleUrls('https://admin:hunter2@console.example.com', 'v34.04');
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });

  it('rejects a bad scheme, a query, and a version that is not vNN.NN', () => {
    expect(() => new ConsoleUrls('ftp://console', 'v34.04')).toThrow(/http\(s\)/);
    expect(() => new ConsoleUrls('https://console/?a=1', 'v34.04')).toThrow(/query/);
    expect(() => new ConsoleUrls('https://console', '34.04')).toThrow(/v34.04/);
    expect(() => new ConsoleUrls('not a url', 'v34.04')).toThrow(/not a URL/);
  });
});
