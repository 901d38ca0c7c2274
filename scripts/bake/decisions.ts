/**
 * What a bake needs from the buildx and builder it runs on, decided before anything builds: the
 * filesystem paths to grant, whether provenance can be attached and a cache exported, whether
 * every platform has a node, whether each enumerated bake variable holds a value it knows, and
 * which progress the user sees.
 * Pure functions of the resolved targets and what was probed (test/unit/decisions.test.ts); the
 * runner (cli.ts) probes and prints.
 */
import { isAbsolute, relative, resolve } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { compareReleases } from "../../generator/compat/table.ts";
import type { Problem } from "../../generator/errors.ts";
import type { PlanVariable } from "../../generator/plan.ts";
import { unreachableNodes, type Builder } from "../docker/builder.ts";

/** buildx checks filesystem entitlements from 0.17 (a warning up to 0.19, a refusal from 0.20); older ones know no `fs` grant. */
export const FS_ENTITLEMENTS_BUILDX = "0.17.0";

/** What the daemon keeps images in: the containerd image store, or a classic graph driver (overlay2). */
export type ImageStore = "containerd" | "graphdriver";

/** Pure: the variables set in `env` to a value their bake file does not know (bake would ignore it without a word). */
export function variableProblems(variables: readonly PlanVariable[], env: Record<string, string | undefined>): Problem[] {
  return variables.flatMap((variable) => {
    const value = env[variable.name];
    if (value === undefined || !variable.allowed || variable.allowed.includes(value)) return [];
    return [
      {
        kind: "usage",
        message: `${variable.name}=${JSON.stringify(value)} is not a value docker-bake.hcl knows: expected ${variable.allowed.map((v) => JSON.stringify(v)).join(", ")}`,
        hint: `${variable.comment} Unset it for the default (${JSON.stringify(variable.default)}).`,
      } satisfies Problem,
    ];
  });
}

/** A local path a build reads or writes, as bake would resolve it. */
interface LocalPath {
  path: string;
  access: "read" | "write";
  /** A directory the build writes into (a local cache, a `type=local` or `tar=false` output), rather than a file. */
  directory?: boolean;
}

/** `key=value,…` (a cache or secret entry) as a map. */
function csvFields(entry: string): Record<string, string> {
  return Object.fromEntries(
    entry.split(",").map((part) => {
      const at = part.indexOf("=");
      return at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
    }),
  );
}

function localPaths(target: ResolvedTarget, cwd: string): LocalPath[] {
  const paths: LocalPath[] = [];
  // A context that is a URL (git, https) or another target is not a local path.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target.context) && !target.context.startsWith("target:")) paths.push({ path: resolve(cwd, target.context), access: "read" });
  for (const secret of target.secret ?? []) {
    const { src } = csvFields(secret);
    if (src) paths.push({ path: resolve(cwd, src), access: "read" });
  }
  for (const entry of target["cache-from"] ?? []) {
    const fields = csvFields(entry);
    if (fields.type === "local" && fields.src) paths.push({ path: resolve(cwd, fields.src), access: "read" });
  }
  for (const entry of target["cache-to"] ?? []) {
    const fields = csvFields(entry);
    if (fields.type === "local" && fields.dest) paths.push({ path: resolve(cwd, fields.dest), access: "write", directory: true });
  }
  return paths;
}

/** The directory or file a `--set T.output=type=local|oci|tar,dest=PATH` writes. */
function outputPaths(sets: readonly string[], cwd: string): LocalPath[] {
  return sets.flatMap((set) => {
    const match = /^[^.=]+\.output=(.*)$/.exec(set);
    if (!match) return [];
    const fields = csvFields(match[1]);
    return fields.dest ? [{ path: resolve(cwd, fields.dest), access: "write" as const, directory: fields.type === "local" || fields.tar === "false" }] : [];
  });
}

/**
 * Pure: the entitlements (`fs.read=PATH`, `fs.write=PATH`, each an `--allow` of bake) that grant
 * exactly the local paths outside `cwd` (where bake runs) that the targets read or write: the
 * checkout, a CA file, a local cache directory, and an output given with `--set T.output=…`. None
 * for a buildx older than 0.17, which has no such grant (and would reject the flag).
 */
export function filesystemGrants(targets: Record<string, ResolvedTarget>, cwd: string, buildxVersion: string, sets: readonly string[] = []): string[] {
  if (compareReleases(buildxVersion, FS_ENTITLEMENTS_BUILDX) < 0) return [];
  const outside = (path: string) => {
    const rel = relative(cwd, path);
    return rel.startsWith("..") || isAbsolute(rel);
  };
  const grants = new Set<string>();
  for (const { path, access } of [...Object.values(targets).flatMap((t) => localPaths(t, cwd)), ...outputPaths(sets, cwd)]) {
    if (outside(path)) grants.add(`fs.${access}=${path}`);
  }
  return [...grants].sort();
}

/**
 * Pure: the directories the build writes into (a local cache's destination, a `type=local` or
 * `tar=false` output). They are made before the build: for a directory that does not exist yet,
 * buildx 0.29 asks for access to its nearest existing parent (`fs.write=..`), a wider grant than
 * the directory itself (seen for a cache directory and an OCI layout; a missing .tar file is
 * granted as it is).
 */
export function directoriesToMake(targets: Record<string, ResolvedTarget>, cwd: string, sets: readonly string[] = []): string[] {
  const written = [...Object.values(targets).flatMap((t) => localPaths(t, cwd)), ...outputPaths(sets, cwd)].filter((p) => p.directory);
  return [...new Set(written.map((p) => p.path))].sort();
}

/** Whether the builder can keep attestations and export a cache: any driver but `docker`, or `docker` on the containerd image store. */
export function builderStoresAttestations(builder: Builder | undefined, store: ImageStore): boolean {
  return (builder?.driver ?? "docker") !== "docker" || store === "containerd";
}

const CAPABLE_BUILDER_HINT =
  'turn on the containerd image store (daemon.json: {"features": {"containerd-snapshotter": true}}, then restart Docker) or build on a docker-container builder (docker buildx create --use --driver docker-container)';

/**
 * Pure: what the targets' provenance and cache settings need from this builder. Where it cannot
 * store attestations (the docker driver on the classic image store), the default ("auto", no
 * attest in the bake file) becomes one line saying none is attached, while an explicit
 * IOPAINT_PROVENANCE=min|max, an SBOM (IOPAINT_SBOM=true), or a cache to export, is a problem
 * with the fix.
 */
export function storageDecisions(targets: Record<string, ResolvedTarget>, builder: Builder | undefined, store: ImageStore): { problems: Problem[]; notes: string[] } {
  if (builderStoresAttestations(builder, store)) return { problems: [], notes: [] };
  const list = Object.values(targets);
  const explicit = list.some((t) => (t.attest ?? []).some((a) => a.includes("type=provenance") && !a.includes("disabled=true")));
  const defaulted = list.some((t) => !(t.attest ?? []).some((a) => a.includes("type=provenance")));
  const sbom = list.some((t) => (t.attest ?? []).some((a) => a.includes("type=sbom")));
  const exports = list.some((t) => (t["cache-to"] ?? []).length > 0);
  const where = `the ${builder?.name ?? "default"} builder (docker driver) on the classic image store`;
  const problems: Problem[] = [];
  if (explicit) {
    problems.push({
      kind: "environment",
      message: `IOPAINT_PROVENANCE asks for a provenance attestation, which ${where} cannot store`,
      hint: `set IOPAINT_PROVENANCE=auto (attached where the builder can store it) or false, or ${CAPABLE_BUILDER_HINT}`,
    });
  }
  if (sbom) {
    problems.push({
      kind: "environment",
      message: `IOPAINT_SBOM=true asks for an SBOM attestation, which ${where} cannot store`,
      hint: `unset IOPAINT_SBOM, or ${CAPABLE_BUILDER_HINT}`,
    });
  }
  if (exports) {
    problems.push({
      kind: "environment",
      message: `IOPAINT_CACHE exports the build cache, which ${where} cannot do`,
      hint: `unset IOPAINT_CACHE (the builder keeps its own cache), or ${CAPABLE_BUILDER_HINT}`,
    });
  }
  const notes = defaulted && !explicit ? [`no provenance attestation: ${where} cannot store one (IOPAINT_PROVENANCE=auto); to attach one, ${CAPABLE_BUILDER_HINT}`] : [];
  return { problems, notes };
}

/**
 * Pure: the builder's nodes that buildx cannot reach (unreachableNodes): a build would fail on
 * one or, where another node runs its platform under emulation, quietly go there.
 */
export function nodeProblems(builder: Builder | undefined): Problem[] {
  if (!builder) return [];
  return unreachableNodes(builder).map((node) => ({
    kind: "environment",
    message: `node ${node.name} of the ${builder.name} builder (${builder.driver} driver, ${node.endpoint}) is ${node.status || "not running"}: buildx cannot reach its BuildKit`,
    hint: `start the BuildKit daemon at ${node.endpoint}, or build without the node: docker buildx create --leave --name ${builder.name} --node ${node.name} (add it back with docker buildx create --append)`,
  }));
}

/**
 * Pure: what a cache export loses on a builder of several nodes. Each node builds its platforms
 * and exports its own cache to the same place, and the last write wins, so a multi-platform
 * target keeps one platform's cache (docker/buildx#1044, open; seen here on two remote nodes:
 * after a prune, amd64 came from the cache and arm64 ran again).
 */
export function multiNodeCacheWarnings(targets: Record<string, ResolvedTarget>, builder: Builder | undefined): string[] {
  if (!builder || builder.nodes.length < 2) return [];
  return Object.entries(targets)
    .filter(([, target]) => (target.platforms ?? []).length > 1 && (target["cache-to"] ?? []).length > 0)
    .map(
      ([name, target]) =>
        `${name} builds ${target.platforms!.join(" and ")} on the ${builder.nodes.length} nodes of ${builder.name} and exports its cache: each node writes the same cache, so only one platform's survives (docker/buildx#1044) and the others' steps run again on an empty builder; a platform built apart (--platform P) with an IOPAINT_CACHE_REF of its own keeps its cache`,
    );
}

/** Pure: the preflight's lines on the builder: its driver and node count, then each node of a builder that is not the daemon's own. */
export function describeBuilder(builder: Builder, store: ImageStore): string[] {
  const storeText = builder.driver === "docker" ? `, ${store === "containerd" ? "containerd" : "classic"} image store` : "";
  const lines = [`builder ${builder.name} (${builder.driver} driver${storeText}; ${builder.nodes.length} node${builder.nodes.length === 1 ? "" : "s"})`];
  if (builder.driver === "docker") return lines;
  for (const node of builder.nodes) lines.push(`  node ${node.name} at ${node.endpoint}: ${node.status || "status unknown"}; platforms ${node.platforms.join(", ") || "unknown"}`);
  return lines;
}

/** Pure: each platform a target builds for that no node of the builder runs, natively or under emulation. */
export function platformProblems(targets: Record<string, ResolvedTarget>, builder: Builder | undefined): Problem[] {
  if (!builder || builder.nodes.every((node) => node.platforms.length === 0)) return [];
  const runs = new Set(builder.nodes.flatMap((node) => node.platforms));
  const problems: Problem[] = [];
  for (const [name, target] of Object.entries(targets)) {
    const missing = (target.platforms ?? []).filter((platform) => !runs.has(platform));
    if (!missing.length) continue;
    problems.push({
      kind: "environment",
      message: `${name} builds for ${missing.join(", ")}, which no node of the ${builder.name} builder (${builder.driver} driver) runs: it lists ${[...runs].join(", ")}`,
      hint: `register QEMU's handlers (Debian/Ubuntu: apt-get install qemu-user-static; anywhere: docker run --privileged --rm tonistiigi/binfmt --install ${missing.map((p) => p.split("/")[1]).join(",")}; GitHub Actions: docker/setup-qemu-action), or build on a builder with a node of that platform`,
    });
  }
  return problems;
}

/** What `--progress` may ask for; `auto` is resolved by progressMode. */
export const PROGRESS_MODES = ["auto", "plain", "tty"] as const;
export type ProgressRequest = (typeof PROGRESS_MODES)[number];

/**
 * Pure: the progress buildx shows. `auto` (the default) is buildx's own tty display in a
 * terminal, plain text in CI (CI set, as GitHub Actions, GitLab and most CI services do) and
 * whenever stderr is not a terminal; the docker build fallback always shows plain text, which
 * it reads for its summary. `tty` without a terminal would make buildx fail, so it is plain, with
 * a note.
 */
export function progressMode(requested: ProgressRequest, where: { terminal: boolean; env: Record<string, string | undefined>; fallback: boolean }): { mode: "plain" | "tty"; note?: string } {
  const inCi = Boolean(where.env.CI) && where.env.CI !== "false";
  if (requested === "plain" || (requested === "auto" && (!where.terminal || inCi || where.fallback))) return { mode: "plain" };
  if (where.fallback) return { mode: "plain", note: "the docker build fallback shows plain progress (--progress tty needs buildx)" };
  if (!where.terminal) return { mode: "plain", note: "--progress tty needs a terminal on stderr; showing plain progress" };
  return { mode: "tty" };
}
