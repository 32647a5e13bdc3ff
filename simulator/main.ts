/** `prisma-registry-sync simulate`: serves the console simulator until SIGINT/SIGTERM. */
import { startSimulator } from './simulator.js';

export interface SimulateCommandOptions {
  port?: number;
  images?: number;
  seed?: number | string;
  unthrottled?: boolean;
}

/** Credentials from PRISMA_USERNAME / PRISMA_PASSWORD (else demo/demo); prints how to connect, never the password. */
export async function runSimulatorCommand(
  opts: SimulateCommandOptions,
  io: { out: NodeJS.WritableStream; env: NodeJS.ProcessEnv; signal?: AbortSignal } = {
    out: process.stdout,
    env: process.env,
  },
): Promise<void> {
  const username = io.env.PRISMA_USERNAME || 'demo';
  const password = io.env.PRISMA_PASSWORD || 'demo';
  const passwordSource = io.env.PRISMA_PASSWORD
    ? 'the password in PRISMA_PASSWORD'
    : "the default password 'demo'";
  const sim = await startSimulator({
    port: opts.port,
    images: opts.images,
    seed: opts.seed,
    username,
    password,
    rateLimit: opts.unthrottled ? false : undefined,
  });
  const say = (line: string) => io.out.write(`${line}\n`);
  say(`Prisma Cloud Compute console simulator listening on ${sim.url}`);
  say(
    `  ${opts.images ?? 200} images, seed ${opts.seed ?? 1}, ${opts.unthrottled ? 'unthrottled' : 'rate limit 30 requests / 30 s'}`,
  );
  say(`  sign in as user '${username}' with ${passwordSource}`);
  say(
    `  e.g. PRISMA_CONSOLE_URL=${sim.url} PRISMA_USERNAME=${username} PRISMA_PASSWORD=... prisma-registry-sync sync`,
  );
  say('  Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Embedders and tests stop it with an AbortSignal instead of a process signal.
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop);
  });
  await sim.close();
  say('simulator stopped');
}
