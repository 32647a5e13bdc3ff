// The npm registry reachable here lacks some other-platform optional binaries (biome, duckdb), so
// `npm install` leaves them out of package-lock.json and `npm ci` then refuses the lock. This adds
// an entry for each missing optional platform package, with the os/cpu that keeps npm from ever
// fetching it on a platform it does not fit. Run after `npm install`: node scripts/fix-lock-optional.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const packages = lock.packages;
const platform = (name) => {
  const os = ['android', 'darwin', 'linux', 'win32', 'freebsd'].find((o) => name.includes(`-${o}`));
  const cpu = ['arm64', 'x64', 'ia32', 'arm'].find((c) => new RegExp(`-${c}(-|$)`).test(name));
  const libc = name.endsWith('-musl') ? ['musl'] : os === 'linux' ? ['glibc'] : undefined;
  return { os, cpu, libc };
};
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key] || packages[`${path}/node_modules/${name}`]) continue;
    const { os, cpu, libc } = platform(name);
    if (!os || !cpu) continue;
    packages[key] = {
      version,
      cpu: [cpu],
      ...(entry.dev ? { dev: true } : {}),
      ...(libc ? { libc } : {}),
      optional: true,
      os: [os],
    };
    added += 1;
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
lock.packages = sorted;
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} optional platform entries`);
