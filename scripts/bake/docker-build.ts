import { isAbsolute, resolve } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { fail } from "../../generator/errors.ts";

/**
 * Pure: one resolved bake target as `docker build` arguments, for engines without buildx
 * (Debian's Docker 20.10, CI here). Paths follow bake's rules: `cwd://` is relative to where bake
 * runs, a plain relative dockerfile to the context. Returns what the fallback cannot honour.
 */
export function dockerBuildArgs(target: ResolvedTarget, cwd: string, options: { progress?: string; noCache?: boolean; pull?: boolean; network?: string } = {}): { argv: string[]; unsupported: string[] } {
  const context = resolve(cwd, target.context);
  const dockerfile = target.dockerfile.startsWith("cwd://")
    ? resolve(cwd, target.dockerfile.slice("cwd://".length))
    : isAbsolute(target.dockerfile) ? target.dockerfile : resolve(context, target.dockerfile);
  const platforms = target.platforms ?? [];
  if (platforms.length > 1) {
    fail({ kind: "environment", message: `building ${platforms.join(", ")} at once needs buildx; docker build makes one platform per image`, hint: "install docker-buildx, or build one platform with --platform" });
  }
  const argv = ["build", "--file", dockerfile, "--progress", options.progress ?? "plain"];
  if (target.target) argv.push("--target", target.target);
  if (platforms.length === 1) argv.push("--platform", platforms[0]);
  if (options.noCache) argv.push("--no-cache");
  if (options.pull) argv.push("--pull");
  if (options.network) argv.push("--network", options.network);
  for (const [key, value] of Object.entries(target.args)) argv.push("--build-arg", `${key}=${value}`);
  for (const [key, value] of Object.entries(target.labels)) argv.push("--label", `${key}=${value}`);
  for (const tag of target.tags) argv.push("--tag", tag);
  argv.push(context);
  const unsupported = [
    ...(target["cache-from"]?.length ? [`cache-from (${target["cache-from"].join(" ")})`] : []),
    ...(target["cache-to"]?.length ? [`cache-to (${target["cache-to"].join(" ")})`] : []),
  ];
  return { argv, unsupported };
}
