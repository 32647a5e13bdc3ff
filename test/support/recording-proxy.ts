/**
 * A plain HTTP proxy in front of a console (the simulator) that remembers every token the console
 * issues, so a leak scan knows exactly which strings must never appear in output.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordingProxy {
  url: string;
  /** Every token an `/authenticate` answer carried, in issue order. */
  tokens: string[];
  close(): Promise<void>;
}

/** Forwards to `target` uncompressed and records the tokens `/authenticate` hands out. */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const tokens: string[] = [];
  const server: Server = createServer((req, res) => {
    const headers = { ...req.headers, 'accept-encoding': 'identity', host: upstream.host };
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          if (req.url?.includes('/authenticate') && answer.statusCode === 200) {
            const token = (JSON.parse(body.toString('utf8')) as { token?: unknown }).token;
            if (typeof token === 'string') tokens.push(token);
          }
          const { 'content-length': _length, 'transfer-encoding': _te, ...rest } = answer.headers;
          res.writeHead(answer.statusCode ?? 502, { ...rest, 'content-length': body.length });
          res.end(body);
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every spelling of a secret that could reach a log: raw, URL-encoded, JSON-escaped, base64. */
export function secretForms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64'),
  ];
}

/** The secrets of `text` among `secrets` (empty when none leaked), each named by a short prefix. */
export function leakedIn(text: string, secrets: readonly string[]): string[] {
  const leaked = new Set<string>();
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      if (form.length > 0 && text.includes(form)) leaked.add(`${secret.slice(0, 6)}…`);
    }
  }
  return [...leaked];
}
