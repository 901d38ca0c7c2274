import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { ProblemsError, type Problem } from "../../generator/errors.ts";
import { VARIABLES, type BuildPlan } from "../../generator/plan.ts";
import type { Docker } from "../docker/docker.ts";
import { proxyArgs, proxySets, withoutCredentials } from "../docker/proxy.ts";

/** The IOPaint checkout each target builds from must hold what the Dockerfile copies. */
export function checkoutProblems(targets: Record<string, ResolvedTarget>, plan: BuildPlan, contextOf: (t: ResolvedTarget) => string): Problem[] {
  const problems: Problem[] = [];
  const hint = "point IOPAINT_SRC (or --source DIR) at an IOPaint checkout, or set source.path in config/iopaint.toml";
  for (const context of new Set(Object.values(targets).map(contextOf))) {
    if (!existsSync(context) || !statSync(context).isDirectory()) {
      problems.push({ kind: "environment", message: `the IOPaint checkout ${context} does not exist or is not a directory`, hint });
      continue;
    }
    const needed = [join(plan.dockerfile.frontend.dir, "package.json"), join(plan.dockerfile.frontend.dir, "package-lock.json"), plan.dockerfile.requirements, "setup.py"];
    const missing = needed.filter((file) => !existsSync(join(context, file)));
    if (missing.length) problems.push({ kind: "environment", message: `${context} is not an IOPaint checkout: it has no ${missing.join(", ")}`, hint });
  }
  return problems;
}

/** --offline: every base image must already be in the local image store, or the build would pull. */
export async function offlineProblems(targets: Record<string, ResolvedTarget>, docker: Docker): Promise<Problem[]> {
  const needs = new Map<string, string>();
  for (const target of Object.values(targets)) {
    if (target.args.NODE_IMAGE) needs.set(target.args.NODE_IMAGE, "frontend");
    if (target.args.BASE_IMAGE) needs.set(target.args.BASE_IMAGE, "system, scripts");
  }
  const problems: Problem[] = [];
  for (const [image, stages] of needs) {
    if (!(await docker.inspectImage(image))) {
      problems.push({
        kind: "environment",
        message: `--offline: stage ${stages} needs ${image}, which is not in the local image store`,
        hint: `pull it while online (docker pull ${image}) or load it (docker load -i FILE), then build again`,
      });
    }
  }
  return problems;
}

/**
 * Pure: what is wrong with the text of a CA file given with --ca-cert or IOPAINT_CA_CERT, as one
 * problem (usage, exit 2), or undefined when it holds at least one PEM certificate and no private key.
 */
export function caCertificateProblem(file: string, text: string | undefined): Problem | undefined {
  const hint = "give a PEM file with your proxy's or mirror's CA certificate (-----BEGIN CERTIFICATE-----), e.g. --ca-cert /usr/local/share/ca-certificates/corp.crt";
  if (text === undefined) return { kind: "usage", message: `the CA certificate file ${file} does not exist or cannot be read`, hint };
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return { kind: "usage", message: `${file} holds a private key; the build needs only the CA's certificate`, hint };
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(text))
    return { kind: "usage", message: `${file} is not a PEM certificate file (no -----BEGIN CERTIFICATE----- block)`, hint };
  return undefined;
}

/**
 * The network settings that a build (npm run bake) and a lock's resolve (npm run lock) share:
 * the extra CA certificates (IOPAINT_CA_CERT), checked before anything runs since a wrong file
 * would fail deep in a build, and the environment's proxies, which reach every RUN step as
 * BuildKit's predefined build args (never stored in the image): by name, and as `--set` overrides.
 */
export function networkSettings(env: Record<string, string | undefined>): { proxies: Record<string, string>; proxySets: string[] } {
  const caCert = env[VARIABLES.caCert];
  if (caCert) {
    let text: string | undefined;
    try {
      text = readFileSync(caCert, "utf8");
    } catch {
      text = undefined;
    }
    const problem = caCertificateProblem(caCert, text);
    if (problem) throw new ProblemsError([problem]);
  }
  const proxies = proxyArgs(env);
  return { proxies, proxySets: proxySets(proxies) };
}

/**
 * A warning per target whose provenance attestation would publish credentials: mode=max records
 * every build argument (measured: `build-arg:HTTP_PROXY` with its password in the SLSA statement),
 * mode=min none. Credentials are a user name or password in a URL (a proxy's, an index's token).
 */
export function provenanceCredentialWarnings(targets: Record<string, ResolvedTarget>): string[] {
  const recordsArgs = (attest: string) => {
    const options = attest.split(",");
    return options.includes("type=provenance") && options.includes("mode=max");
  };
  return Object.entries(targets).flatMap(([name, target]) => {
    if (!(target.attest ?? []).some(recordsArgs)) return [];
    const holding = Object.entries(target.args)
      .filter(([, value]) => withoutCredentials(value) !== value)
      .map(([arg]) => arg);
    if (!holding.length) return [];
    return [
      `${name}: provenance mode=max records every build argument in the image's attestation, where anyone who can pull the image reads it, and ${holding.join(", ")} hold credentials (user:password@ in the URL); use IOPAINT_PROVENANCE=min (the default) or URLs without credentials`,
    ];
  });
}
