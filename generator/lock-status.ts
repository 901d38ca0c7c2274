/**
 * Pure: whether each variant's lock still matches what it was resolved from, for `npm run check`
 * and the bake runner's preflight. A stale lock is a problem that names the command to run; a
 * variant without a lock gets a one-line notice and builds as before (pip resolves). For a build
 * (`forBuild`), a lock that only requirements.txt or the extra packages moved past is a notice:
 * the Dockerfile's resolve stage adds what they gained, with the lock held, in a layer of its own.
 */
import type { Problem } from "./errors.ts";
import { lockFileName, staleInputs } from "./lock.ts";
import { lockInputsOf, type BuildPlan } from "./plan.ts";

export interface LockStatus {
  problems: Problem[];
  notices: string[];
}

/**
 * `requirementsOf(variant)`: the checkout's requirements.txt for that variant's builds, or
 * undefined where there is no checkout to read (then only the pins, extras and platforms count).
 * `lockCommand`: how the user runs `npm run lock` for this config (with its --config, if any).
 */
export function lockStatus(
  plan: BuildPlan,
  variants: Iterable<string>,
  requirementsOf: (variant: string) => Uint8Array | string | undefined,
  lockCommand = "npm run lock --",
  forBuild = false,
): LockStatus {
  const status: LockStatus = { problems: [], notices: [] };
  for (const name of new Set(variants)) {
    const variant = plan.variants.find((v) => v.name === name);
    if (!variant) continue;
    if (!variant.lock) {
      status.notices.push(`${name} is unlocked (no ${lockFileName(name)} beside the config): pip resolves its dependencies at build time; \`${lockCommand} ${name}\` pins every one`);
      continue;
    }
    const current = lockInputsOf(plan, variant, requirementsOf(name));
    const stale = staleInputs(variant.lock, current);
    if (forBuild && stale.length && !staleInputs(variant.lock, { ...current, requirements: undefined, extras: undefined }).length) {
      status.notices.push(
        `${stale.map((line) => line.replace(/:.*/, "")).join(" and ")} changed since the lock of ${name}: the build installs the lock, then what the change needs beyond it (resolved with every locked release held) in a layer of its own; \`${lockCommand} ${name}\` pins it`,
      );
    } else if (stale.length) {
      status.problems.push({
        kind: "drift",
        message: `the lock of ${name} is out of date: ${stale.join("; ")}`,
        location: { file: variant.lock.file },
        hint: `resolve it again with \`${lockCommand} ${name}\` and commit the lock`,
      });
    }
  }
  return status;
}
