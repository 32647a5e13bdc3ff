/**
 * Report fields that change between two scans of the same, unchanged image. None of them reaches
 * a normalized record's `contentHash`: the hash is built from an allow-list of content (identity,
 * digest, image id, tags, OS, findings, compliance, packages), so a rescan that found the same
 * things is "unchanged" and costs the store no write. The list exists to make that decision
 * explicit and reviewable; the property tests change every field here and expect the same hash.
 *
 * Fields the normalized model does not carry at all (layers, history, binaries, labels, files,
 * applications, secrets) are not volatile but stay out of the hash too: they are in the raw
 * report the store keeps, and a change in them comes with a new digest or image id anyway.
 * A field the console adds in a future version is likewise ignored until the model reads it.
 *
 * One exception, by design: when a report has no vulnerability list, the counters
 * ({@link COUNTER_FIELDS}) are the only sign of whether the image is clean or the report was
 * compacted, so they decide `findingsIncomplete`, which is hashed. With a list present they
 * change nothing.
 */
export const VOLATILE_REPORT_FIELDS = {
  scanTime: 'time of the latest scan: changes on every rescan',
  firstScanTime: 'time of the first scan of any version of the image: not content',
  scanID: 'id of the scan run that produced the report',
  scanDuration: 'how long the scan took',
  pullDuration: 'how long the image pull took',
  scanVersion: 'scanner version: changes on every console upgrade, not with the image',
  scanBuildDate: 'scanner build date: as scanVersion',
  hostname: 'the agent or defender host that happened to scan it',
  hosts: 'hosts running the image (agentless scans): a deployment fact, changes constantly',
  instances: 'running instances with their hosts and modification times',
  clusters: 'clusters running the image',
  namespaces: 'Kubernetes namespaces running the image',
  externalLabels: 'labels of the containers running the image',
  ecsClusterName: 'where the image runs, not what it is',
  k8sClusterAddr: 'where the image runs, not what it is',
  cloudMetadata: 'cloud account and region of the scanning host',
  collections: 'console collections the image falls into: console configuration',
  err: 'scan error text of this scan attempt',
  errCode: 'scan error code of this scan attempt',
  vulnerabilitiesCount: 'console counter, recomputed from the findings (and disagreeing with them)',
  vulnerabilityDistribution: 'console counter, recomputed from the findings',
  complianceIssuesCount: 'console counter, recomputed from the compliance issues',
  complianceDistribution: 'console counter, recomputed from the compliance issues',
  vulnerabilityRiskScore: 'console score derived from findings and policy',
  complianceRiskScore: 'console score derived from compliance and policy',
  malwareAnalyzedTime: 'time of the latest WildFire analysis',
  trustStatus: 'trust policy verdict: changes with console rules',
  trustResult: 'trust policy verdict: changes with console rules',
  trust: 'trust policy verdict (older consoles)',
  firewallProtection: 'WAAS state of the running containers',
  wildFireUsage: 'WildFire quota usage',
  agentless: 'which scanner kind scanned it this time',
  aisUUID: 'agentless scanner instance id',
  hostDevices: 'network devices of the scanning host',
  hostRuntimeEnabled: 'runtime policy of the scanning host',
  stopped: 'whether the scanning host was running',
} as const satisfies Readonly<Record<string, string>>;

/** The console's vulnerability counters: volatile only while the report carries a vulnerability list. */
export const COUNTER_FIELDS = ['vulnerabilitiesCount', 'vulnerabilityDistribution'] as const;

/**
 * Fields of a `vulnerabilities[]` row that change without the finding changing. A finding's own
 * `contentHash` covers only the fields of its record (id, severity, cvss, package, status,
 * dates, link, title, description, vector, risk factors).
 */
export const VOLATILE_FINDING_FIELDS = {
  gracePeriodDays: 'counts down every day under a grace-period rule',
  discovered: 'when this scan met the finding',
  block: 'policy effect: changes with console rules',
  applicableRules: 'console rules matched: policy, not content',
  templates: 'compliance templates: console configuration',
  vulnTagInfos: 'user tags on the CVE in the console',
  layerTime: 'time of the layer that brought the package: a rebuilt layer changes the digest anyway',
} as const satisfies Readonly<Record<string, string>>;
