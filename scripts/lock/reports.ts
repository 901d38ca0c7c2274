/**
 * Pure: what each platform's resolve chose to a variant's lock sections. The resolves come from
 * pip's installation reports (`pip install --dry-run --report` in the Dockerfile's resolve stage,
 * run on each platform) or from uv's PEP 751 locks (scripts/lock/pylock.ts). A distribution that
 * every platform installs at one version gets one line with the hashes of every file seen; one
 * that differs by platform gets a line per version with a `platform_machine` marker, so the
 * installer on each platform takes its own.
 */
import { LOCK_SECTIONS, normalizeName, type LockedDistribution, type LockSection } from "../../generator/lock.ts";

/** The parts of pip's report (format version 1, pip 22.2+) that a lock needs. */
export interface PipReport {
  version: string;
  install: {
    metadata: { name: string; version: string };
    download_info: { url: string; archive_info?: { hash?: string; hashes?: Record<string, string> }; dir_info?: unknown; vcs_info?: unknown };
  }[];
  environment: { platform_machine: string };
}

/** One distribution a resolve chose, with the sha256 (`sha256:<hex>`) of each file it may install. */
export interface ResolvedDistribution {
  name: string;
  version: string;
  hashes: string[];
}

/** One platform's resolve, split into the lock's sections (a step that installed nothing may have none). */
export interface PlatformResolve {
  platform: string;
  /** Its `platform_machine` (x86_64, aarch64): the marker of what only some platforms install. */
  machine: string;
  sections: Partial<Record<LockSection, ResolvedDistribution[]>>;
}

export class LockResolveError extends Error {}

/**
 * Pure: a resolve's three parts (everything resolved together, the torch stack alone under that
 * result, the build tools) as the lock's sections: the packages are everything that is not the
 * torch stack's.
 */
export function splitSections(all: ResolvedDistribution[], torch: ResolvedDistribution[], build: ResolvedDistribution[]): Record<LockSection, ResolvedDistribution[]> {
  const inTorch = new Set(torch.map((d) => normalizeName(d.name)));
  return { torch, packages: all.filter((d) => !inTorch.has(normalizeName(d.name))), build };
}

/** Pure: the distributions a pip report installs, each with its file's hash. */
export function pipDistributions(report: PipReport): ResolvedDistribution[] {
  return report.install.map((entry) => ({ name: entry.metadata.name, version: entry.metadata.version, hashes: [fileHash(entry)] }));
}

/** Why a lock cannot pin a resolved distribution, in the same words for pip's report and uv's lock. */
export const unpinnable = {
  notFromIndex: (what: string) =>
    new LockResolveError(`${what} is not a release from an index (a directory, VCS checkout or archive URL), so it has no hash to pin: publish it to an index, or pin a released version`),
  noHash: (what: string) => new LockResolveError(`the index gave no sha256 for ${what}; a lock needs an index that publishes hashes (PyPI and download.pytorch.org do)`),
};

/** `sha256:<hex>` of a reported file, or an error that says why a lock cannot pin it. */
function fileHash(entry: PipReport["install"][number]): string {
  const { download_info: info, metadata } = entry;
  const what = `${metadata.name} ${metadata.version} (${info.url})`;
  if (!info.archive_info) throw unpinnable.notFromIndex(what);
  const sha256 = info.archive_info.hashes?.sha256 ?? /^sha256=([0-9a-f]{64})$/.exec(info.archive_info.hash ?? "")?.[1];
  if (!sha256) throw unpinnable.noHash(what);
  return `sha256:${sha256}`;
}

/** The `platform_machine` of each platform a lock may list (Python's platform.machine() there). */
const MACHINES: Record<string, string[]> = {
  "linux/amd64": ["x86_64"],
  "linux/arm64": ["aarch64"],
  "linux/arm64/v8": ["aarch64"],
  "linux/arm/v7": ["armv7l", "armv8l"],
  "linux/ppc64le": ["ppc64le"],
  "linux/s390x": ["s390x"],
};

/** The machine uv resolves a platform for with --python-platform (uv names x86_64 and aarch64 manylinux platforms); undefined for others. */
export function uvMachine(platform: string): string | undefined {
  const machine = MACHINES[platform]?.[0];
  return machine === "x86_64" || machine === "aarch64" ? machine : undefined;
}

/**
 * The report's machine must be the platform's: an image that exists for one architecture only is
 * run under it for every platform (BuildKit warns and goes on), and the lock would then claim a
 * platform it never saw.
 */
export function checkMachine(platform: string, report: PipReport, baseImage: string): void {
  const machine = report.environment.platform_machine;
  const expected = MACHINES[platform];
  if (expected && !expected.includes(machine)) {
    throw new LockResolveError(
      `${platform} resolved on ${machine}: the base image ${baseImage} has no ${platform} build here, so BuildKit ran the one it has; use a base image with ${platform} (a multi-platform index), or leave ${platform} out of the variant's platforms`,
    );
  }
}

/** Pure: every platform's resolve to the lock's sections, sorted by name, deterministic. */
export function lockSections(platforms: PlatformResolve[]): Record<LockSection, LockedDistribution[]> {
  const machines = platforms.map((p) => p.machine);
  const sections = {} as Record<LockSection, LockedDistribution[]>;
  for (const section of LOCK_SECTIONS) {
    // name → version → { machines that install it, its files' hashes }
    const seen = new Map<string, Map<string, { machines: Set<string>; hashes: Set<string> }>>();
    platforms.forEach((p, index) => {
      for (const distribution of p.sections[section] ?? []) {
        const name = normalizeName(distribution.name);
        const versions = seen.get(name) ?? new Map();
        const at = versions.get(distribution.version) ?? { machines: new Set<string>(), hashes: new Set<string>() };
        at.machines.add(machines[index]);
        for (const hash of distribution.hashes) at.hashes.add(hash);
        versions.set(distribution.version, at);
        seen.set(name, versions);
      }
    });
    const all = new Set(machines);
    sections[section] = [...seen.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([name, versions]) =>
        [...versions.entries()]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([version, at]) => ({
            name,
            version,
            ...(at.machines.size < all.size
              ? {
                  marker: [...at.machines]
                    .sort()
                    .map((m) => `platform_machine == "${m}"`)
                    .join(" or "),
                }
              : {}),
            hashes: [...at.hashes].sort(),
          })),
      );
  }
  return sections;
}

/** Pure: what changed between two locks' distributions, for the summary ("3 added, 1 changed"). */
export function lockChanges(before: Record<LockSection, LockedDistribution[]> | undefined, after: Record<LockSection, LockedDistribution[]>): string[] {
  const versions = (sections?: Record<LockSection, LockedDistribution[]>) => {
    const map = new Map<string, Set<string>>();
    for (const d of LOCK_SECTIONS.flatMap((s) => sections?.[s] ?? [])) map.set(d.name, (map.get(d.name) ?? new Set()).add(d.version));
    return map;
  };
  const [old, now] = [versions(before), versions(after)];
  const text = (set?: Set<string>) => [...(set ?? [])].sort().join(", ");
  const lines: string[] = [];
  for (const [name, set] of now) {
    if (!old.has(name)) lines.push(`+ ${name} ${text(set)}`);
    else if (text(old.get(name)) !== text(set)) lines.push(`~ ${name} ${text(old.get(name))} → ${text(set)}`);
  }
  for (const [name, set] of old) if (!now.has(name)) lines.push(`- ${name} ${text(set)}`);
  return lines.sort((a, b) => a.slice(2).localeCompare(b.slice(2)));
}
