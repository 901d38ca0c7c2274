/**
 * Pure argument builders for both build paths: `docker buildx bake` (what users run) and the
 * fallback's one `docker build` per resolved target. Golden lists: test/unit/build-args.test.ts.
 */
import { isAbsolute, resolve } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { fail } from "../../generator/errors.ts";
import { NAMED_CONTEXTS } from "../../generator/plan.ts";
import type { ContextImages } from "./context-images.ts";

export interface BakeOptions {
  /** The bake file (docker-bake.hcl). */
  file: string;
  targets: readonly string[];
  progress?: string;
  noCache?: boolean;
  pull?: boolean;
  push?: boolean;
  load?: boolean;
  /** `--set` overrides, as given (`cpu.args.APP_UID=1001`). */
  sets?: readonly string[];
  /** One platform (or a comma list) for every target: `--set *.platform=P`. */
  platform?: string;
  /** Where buildx writes each target's image name and digests (JSON keyed by target). */
  metadataFile?: string;
  /** `--provenance` ("mode=min", "false"): overrides the targets' provenance attest, as CI's bake-action passes it. */
  provenance?: string;
  /** Entitlements granted with `--allow` (`fs.read=/path/to/IOPaint`): buildx 0.17+ only. */
  allow?: readonly string[];
}

/** Pure: the `docker buildx bake` arguments for these options. */
export function bakeArgs(options: BakeOptions): string[] {
  const argv = ["buildx", "bake", ...(options.allow ?? []).map((grant) => `--allow=${grant}`), "--file", options.file, "--progress", options.progress ?? "plain"];
  if (options.metadataFile) argv.push("--metadata-file", options.metadataFile);
  if (options.noCache) argv.push("--no-cache");
  if (options.pull) argv.push("--pull");
  if (options.push) argv.push("--push");
  if (options.load) argv.push("--load");
  if (options.provenance) argv.push("--provenance", options.provenance);
  for (const set of options.sets ?? []) argv.push("--set", set);
  if (options.platform) argv.push("--set", `*.platform=${options.platform}`);
  argv.push(...options.targets);
  return argv;
}

/**
 * Pure: one resolved bake target as `docker build` arguments, for engines without buildx
 * (Debian's Docker 20.10, CI here). Paths follow bake's rules: `cwd://` is relative to where bake
 * runs, a plain relative dockerfile to the context. Returns what the fallback cannot honour.
 */
export function dockerBuildArgs(
  target: ResolvedTarget,
  cwd: string,
  options: { progress?: string; noCache?: boolean; pull?: boolean; network?: string; output?: string; contextImages?: ContextImages } = {},
): { argv: string[]; unsupported: string[] } {
  const context = resolve(cwd, target.context);
  const dockerfile = target.dockerfile.startsWith("cwd://")
    ? resolve(cwd, target.dockerfile.slice("cwd://".length))
    : isAbsolute(target.dockerfile)
      ? target.dockerfile
      : resolve(context, target.dockerfile);
  const platforms = target.platforms ?? [];
  if (platforms.length > 1) {
    fail({
      kind: "environment",
      message: `building ${platforms.join(", ")} at once needs buildx; docker build makes one platform per image`,
      hint: "install docker-buildx, or build one platform with --platform",
    });
  }
  const argv = ["build", "--file", dockerfile, "--progress", options.progress ?? "plain"];
  if (target.target) argv.push("--target", target.target);
  if (platforms.length === 1) argv.push("--platform", platforms[0]);
  if (options.noCache) argv.push("--no-cache");
  if (options.pull) argv.push("--pull");
  if (options.network) argv.push("--network", options.network);
  if (options.output) argv.push("--output", options.output);
  for (const [key, value] of Object.entries(target.args)) argv.push("--build-arg", `${key}=${value}`);
  // The named contexts, as the local images scripts/docker/context-images.ts builds from them.
  for (const { context, imageArg } of NAMED_CONTEXTS) if (options.contextImages?.[context]) argv.push("--build-arg", `${imageArg}=${options.contextImages[context]}`);
  for (const [key, value] of Object.entries(target.labels)) argv.push("--label", `${key}=${value}`);
  for (const secret of target.secret ?? []) argv.push("--secret", secret);
  for (const tag of target.tags) argv.push("--tag", tag);
  argv.push(context);
  const unsupported = [
    ...Object.keys(target.contexts ?? {})
      .filter((name) => !NAMED_CONTEXTS.some((c) => c.context === name))
      .map((name) => `contexts.${name}`),
    ...(target["cache-from"]?.length ? [`cache-from (${target["cache-from"].join(" ")})`] : []),
    ...(target["cache-to"]?.length ? [`cache-to (${target["cache-to"].join(" ")})`] : []),
  ];
  return { argv, unsupported };
}

/** Pure: --set and --platform applied the way bake applies them, for the fallback path (buildx gets them as flags). */
export function applyOverrides(targets: Record<string, ResolvedTarget>, sets: string[], platform?: string): Record<string, ResolvedTarget> {
  const out = structuredClone(targets);
  for (const set of [...sets, ...(platform ? [`*.platform=${platform}`] : [])]) {
    const match = /^([^.=]+)\.([a-z-]+)(?:\.([^=]+))?=(.*)$/.exec(set);
    if (!match) fail({ kind: "usage", message: `--set ${set}: expected TARGET.KEY=VALUE (e.g. cpu.args.APP_UID=1001)` });
    const [, pattern, key, sub, value] = match;
    const names = pattern === "*" ? Object.keys(out) : [pattern];
    for (const name of names) {
      const target = out[name];
      if (!target) fail({ kind: "usage", message: `--set ${set}: "${pattern}" is not one of the targets being built (${Object.keys(out).join(", ")})` });
      if (key === "args" && sub) (target.args as Record<string, string>)[sub] = value;
      else if (key === "labels" && sub) target.labels[sub] = value;
      else if (key === "tags") target.tags = value.split(",");
      else if (key === "platform") target.platforms = value.split(",");
      else if (key === "target") target.target = value;
      else if (key !== "network") fail({ kind: "usage", message: `--set ${set}: ${key} is not supported here`, hint: "args.K, labels.K, tags, platform and target are" });
    }
  }
  return out;
}
