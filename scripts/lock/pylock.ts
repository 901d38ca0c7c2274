/**
 * Pure: a PEP 751 lock file (pylock.toml, https://peps.python.org/pep-0751/), as
 * `uv pip compile --format pylock.toml --python-platform …` writes it for one platform, to the
 * distributions it pins. uv lists only the files that platform can install; the lock keeps the
 * hashes of its wheels, or of its sdist where it has no wheel, since pip and uv install a wheel
 * when there is one.
 */
import TOML from "@iarna/toml";
import { LockResolveError, type ResolvedDistribution, unpinnable } from "./reports.ts";

interface PylockFile {
  url?: string;
  path?: string;
  name?: string;
  hashes?: Record<string, unknown>;
}

interface PylockPackage {
  name?: unknown;
  version?: unknown;
  wheels?: PylockFile[];
  sdist?: PylockFile;
  directory?: unknown;
  vcs?: unknown;
  archive?: unknown;
}

export function pylockDistributions(text: string, file: string): ResolvedDistribution[] {
  let lock: { "lock-version"?: unknown; packages?: PylockPackage[] };
  try {
    lock = TOML.parse(text) as typeof lock;
  } catch (error) {
    throw new LockResolveError(`${file} is not TOML: ${(error as Error).message.split("\n")[0]}`);
  }
  // PEP 751: a reader must refuse a major version it does not know.
  if (typeof lock["lock-version"] !== "string" || !/^1(\.|$)/.test(lock["lock-version"])) {
    throw new LockResolveError(`${file} is not a PEP 751 lock of version 1 (lock-version = ${JSON.stringify(lock["lock-version"] ?? null)})`);
  }
  return (lock.packages ?? []).map((entry) => {
    const name = String(entry.name);
    if (typeof entry.version !== "string" || entry.directory || entry.vcs || entry.archive) {
      throw unpinnable.notFromIndex(`${name} in ${file}`);
    }
    const files = entry.wheels?.length ? entry.wheels : entry.sdist ? [entry.sdist] : [];
    if (!files.length) throw new LockResolveError(`${name} ${entry.version} in ${file} lists no wheel and no sdist`);
    const hashes = files.map((f) => {
      const sha256 = f.hashes?.sha256;
      if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) {
        throw unpinnable.noHash(`${name} ${entry.version} (${f.url ?? f.path ?? f.name ?? "a file"})`);
      }
      return `sha256:${sha256}`;
    });
    return { name, version: entry.version, hashes };
  });
}
