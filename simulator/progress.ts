/** `GET /registry/progress` as a real console answers it (simulator/README.md "/registry/progress"). */
import { ZERO_TIME } from './generator.js';
import { json, type Reply } from './routes.js';

export type StepCounts = { total: number; scanned: number };

/** `defenders` (named in the titles) defaults to 1. */
export type RegistryScanState = {
  registry: string;
  discovery: StepCounts;
  imageScan: StepCounts;
  defenders?: number;
};

export interface OnDemandScanState {
  registry?: string;
  repo: string;
  tag?: string;
  digest?: string;
  ongoing: boolean;
  discovery?: StepCounts;
  imageScan?: StepCounts;
}

/** `regular` replaces the regular scan; `onDemand` entries are upserted. */
export interface ScanProgressInput {
  regular?: { ongoing: boolean; registries?: RegistryScanState[]; specScanStartTime?: string };
  onDemand?: OnDemandScanState[];
}

/** `completionShown`: the completed state was shown once; further responses are `[]`. */
type OnDemandEntry = { scan: OnDemandScanState; completionShown: boolean };

function progressObject(counts: StepCounts, title: string) {
  return { id: '', type: '', discovery: false, total: counts.total, scanned: counts.scanned, title };
}

function entryOf(discovery: StepCounts, discoveryTitle: string, imageScan: StepCounts, scanTitle: string) {
  return {
    discovery: progressObject(discovery, discoveryTitle),
    imageScan: progressObject(imageScan, scanTitle),
  };
}

function onDemandKey(scan: { registry?: string; repo: string; tag?: string; digest?: string }): string {
  return `${scan.registry ?? ''}|${scan.repo}|${scan.tag ?? ''}|${scan.digest ?? ''}`;
}

export class ScanProgress {
  private regular: NonNullable<ScanProgressInput['regular']> = { ongoing: false };
  private readonly onDemand = new Map<string, OnDemandEntry>();

  set(input: ScanProgressInput): void {
    if (input.regular !== undefined) this.regular = input.regular;
    for (const scan of input.onDemand ?? []) {
      const key = onDemandKey(scan);
      const previous = this.onDemand.get(key);
      // A completed scan already shown stays shown, unless a new scan starts (ongoing again).
      const completionShown =
        !scan.ongoing && previous !== undefined && !previous.scan.ongoing && previous.completionShown;
      this.onDemand.set(key, { scan, completionShown });
    }
  }

  respond(query: URLSearchParams): Reply {
    const badRequest = (err: string) => json(400, { err });
    if (query.get('onDemand') !== 'true') {
      const stray = ['registry', 'repo', 'tag', 'digest'].filter((name) => query.has(name));
      if (stray.length > 0) return badRequest(`${stray.join(', ')} require onDemand=true`);
      return json(200, this.regularBody());
    }
    const [registry, repo, tag, digest] = ['registry', 'repo', 'tag', 'digest'].map(
      (n) => query.get(n) ?? undefined,
    );
    if (!repo || (!tag && !digest))
      return badRequest('an on-demand scan progress needs repo and tag or digest');
    const entry = [...this.onDemand.values()].find(
      ({ scan }) =>
        scan.repo === repo &&
        (registry === undefined || (scan.registry ?? '') === registry) &&
        (tag === undefined || scan.tag === tag) &&
        (digest === undefined || scan.digest === digest),
    );
    if (entry === undefined || entry.completionShown) return json(200, []);
    if (!entry.scan.ongoing) entry.completionShown = true;
    return json(200, [this.onDemandBody(entry.scan)]);
  }

  private regularBody(): unknown[] {
    const { ongoing, registries = [], specScanStartTime = ZERO_TIME } = this.regular;
    if (!ongoing || registries.length === 0) {
      const idle = { total: 0, scanned: 0 };
      return [{ ...entryOf(idle, '', idle, ''), isScanOngoing: false, specScanStartTime }];
    }
    return registries.map((r) => {
      const defenders = r.defenders ?? 1;
      const { discovery, imageScan } = r;
      return {
        ...entryOf(
          discovery,
          `Step 1/2 discovering tags in registry ${r.registry}: Discovered tags in ${discovery.scanned}/${discovery.total} repositories with ${defenders} Defenders`,
          imageScan,
          `Step 2/2 scanning images in registry ${r.registry}: Scanned ${imageScan.scanned}/${imageScan.total} images with ${defenders} Defender${defenders === 1 ? '' : 's'}`,
        ),
        isScanOngoing: true,
        specScanStartTime,
      };
    });
  }

  private onDemandBody(scan: OnDemandScanState): unknown {
    const what = scan.tag !== undefined ? `tag: ${scan.tag}` : `digest: ${scan.digest}`;
    return {
      ...entryOf(
        scan.discovery ?? { total: 1, scanned: 1 },
        `Step 1/2 discovering tags in repository: ${scan.repo}, ${what}`,
        scan.imageScan ?? { total: 1, scanned: scan.ongoing ? 0 : 1 },
        `Step 2/2 scanning images in repository: ${scan.repo}, ${what}`,
      ),
      isScanOngoing: scan.ongoing,
      specScanStartTime: ZERO_TIME,
    };
  }
}
