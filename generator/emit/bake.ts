import { CA_SECRET, DOCKERFILE, HELPERS, LOCKS, locksDirOf, TORCH_BUILD_PLACEHOLDER, VARIABLES, type BuildPlan, type PlannedTarget, type PlannedVariant } from "../plan.ts";
import { commentText, hclKey, hclString } from "../quote.ts";
import { generatedHeader } from "./header.ts";

/**
 * docker-bake.hcl: variables users may set, the tag and cache functions, groups, one hidden
 * target with what every image shares, one hidden target per variant, and the public targets.
 * Attribute order and blank lines are fixed, so the same plan always gives the same bytes.
 */
export function emitBake(plan: BuildPlan): string {
  const blocks = [
    comment([
      "Build from the repository root (buildx 0.12 or later): docker buildx bake [target|group ...]",
      `Targets: ${plan.targets.map((t) => t.name).join(", ")}. Groups: ${plan.groups.map((g) => g.name).join(", ")}.`,
      "Every variable below can be set from the environment, e.g. IOPAINT_VERSION=1.6.0 docker buildx bake all",
    ]),
    ...plan.variables.map((v) => `${comment([v.comment, ...(v.allowed ? [allowedValues(v.allowed)] : [])])}variable ${hclString(v.name)} {\n  default = ${hclString(v.default)}\n}\n`),
    tagsFunction(),
    ...cacheFunctions(),
    ...plan.groups.map((g) => `group ${hclString(g.name)} {\n  targets = ${hclList(g.targets)}\n}\n`),
    `${comment(["Filled in by docker/metadata-action in CI (its bake-target input); empty locally."])}target "docker-metadata-action" {}\n`,
    commonTarget(plan),
    ...plan.variants.map(variantTarget),
    ...plan.targets.flatMap(publicTarget),
  ];
  return `${generatedHeader("#", plan.configFile, "npm run generate")}\n${blocks.join("\n")}`;
}

function tagsFunction(): string {
  const image = `\${${VARIABLES.image}}`;
  return (
    comment(["<image>:<target>-latest, plus <image>:<target>-<IOPAINT_VERSION> when a version is set."]) +
    `function "tags" {\n  params = [name]\n  result = concat(["${image}:\${name}-latest"], ${VARIABLES.version} == "" ? [] : ["${image}:\${name}-\${${VARIABLES.version}}"])\n}\n`
  );
}

function cacheFunctions(): string[] {
  const scoped = (direction: "from" | "to") => {
    const mode = direction === "to" ? ",mode=max" : "";
    const local = direction === "to" ? "dest" : "src";
    const ref = `\${${VARIABLES.cacheRef}}`;
    return [
      `${VARIABLES.cache} == "gha" ? ["type=gha,scope=iopaint-\${scope}${mode}"]`,
      `${VARIABLES.cache} == "registry" ? ["type=registry,ref=${ref}:cache-\${scope}${mode}"]`,
      `${VARIABLES.cache} == "local" ? ["type=local,${local}=${ref}/\${scope}${mode}"]`,
      "[]",
    ].join(" : ");
  };
  return [
    `${comment(["cache-from and cache-to for one scope (a variant), from IOPAINT_CACHE and IOPAINT_CACHE_REF."])}function "cache_from" {\n  params = [scope]\n  result = ${scoped("from")}\n}\n`,
    `function "cache_to" {\n  params = [scope]\n  result = ${scoped("to")}\n}\n`,
  ];
}

/**
 * An enumerated variable's values, in its comment. Not a `validation` block: buildx 0.19 added
 * those, and 0.13.1 (Debian 13's) fails on the whole file when it meets one.
 */
function allowedValues(values: readonly string[]): string {
  return `Allowed: ${values.map((v) => JSON.stringify(v)).join(", ")}; npm run bake refuses any other.`;
}

/**
 * The attestations IOPAINT_PROVENANCE and IOPAINT_SBOM ask for. Provenance "auto" sets none, so
 * buildx adds its own default (mode=min) where the builder can store it and leaves it out where
 * it cannot (the docker driver on the classic image store, which refuses any explicit attest);
 * "false" is explicitly none, since buildx would otherwise add its default. An SBOM is never a
 * default: "true" adds one, from IOPAINT_SBOM_GENERATOR's image or buildx's default scanner.
 */
function attestations(): string {
  const mode = VARIABLES.provenance;
  const generator = VARIABLES.sbomGenerator;
  const provenance = `${mode} == "auto" ? [] : ${mode} == "false" ? ["type=provenance,disabled=true"] : ["type=provenance,mode=\${${mode}}"]`;
  const sbom = `${VARIABLES.sbom} == "true" ? [${generator} == "" ? "type=sbom" : "type=sbom,generator=\${${generator}}"] : []`;
  return `concat(${provenance}, ${sbom})`;
}

/** The directories the Dockerfile takes as named contexts: the helpers, and the locks once a variant has one. */
function namedContexts(plan: BuildPlan): Record<string, string> {
  const locked = plan.variants.some((variant) => variant.lock);
  return { [HELPERS.context]: `cwd://${HELPERS.dir}`, ...(locked ? { [LOCKS.context]: `cwd://${locksDirOf(plan.configFile)}` } : {}) };
}

function commonTarget(plan: BuildPlan): string {
  const labels = [
    ...Object.entries(plan.labels).map(([k, v]) => `    ${hclKey(k)} = ${hclString(v)}\n`),
    ...Object.entries(plan.variableLabels).map(([k, variable]) => `    ${hclKey(k)} = ${variable}\n`),
  ];
  return (
    comment([
      "What every image shares: the checkout as context, the generated Dockerfile and the scripts it runs, shared args, attestations (provenance, an SBOM), the CA secret if one is given, OCI labels.",
    ]) +
    `target "_common" {\n` +
    `  context = ${VARIABLES.source}\n` +
    `  dockerfile = ${hclString(`cwd://${DOCKERFILE}`)}\n` +
    `  contexts = ${hclMap(namedContexts(plan))}\n` +
    `  args = ${hclMap(plan.args, plan.argVariables)}\n` +
    `  attest = ${attestations()}\n` +
    `  secret = ${VARIABLES.caCert} == "" ? [] : ["id=${CA_SECRET},src=\${${VARIABLES.caCert}}"]\n` +
    `  labels = {\n${labels.join("")}  }\n` +
    `}\n`
  );
}

function variantTarget(variant: PlannedVariant): string {
  return (
    comment([`Variant ${variant.name}: ${variant.description}. Size budget ${variant.sizeBudget}.`]) +
    `target ${hclString(`_${variant.name}`)} {\n` +
    `  inherits = ["_common"]\n` +
    `  args = ${hclMap(variant.args, { TORCH_INDEX_URL: `replace(${VARIABLES.torchIndex}, ${hclString(TORCH_BUILD_PLACEHOLDER)}, ${hclString(variant.torchBuild)})` })}\n` +
    `  labels = ${hclMap(variant.labels)}\n` +
    `  platforms = ${platformsOf(variant)}\n` +
    `  cache-from = cache_from(${hclString(variant.name)})\n` +
    `  cache-to = cache_to(${hclString(variant.name)})\n` +
    `}\n`
  );
}

/**
 * A variant with one platform is built for it on every host (gpu on an arm64 machine would
 * otherwise get arm64, for which no CUDA wheels exist); one with several gets the builder's own
 * unless IOPAINT_PLATFORMS=release asks for all.
 */
function platformsOf(variant: PlannedVariant): string {
  const listed = hclList(variant.releasePlatforms);
  return variant.releasePlatforms.length === 1 ? listed : `${VARIABLES.platforms} == "release" ? ${listed} : []`;
}

/** A public target, and its own metadata target that holds its tags (CI's metadata-action replaces them). */
function publicTarget(target: PlannedTarget): string[] {
  const metadata = `docker-metadata-action-${target.name}`;
  return [
    `target ${hclString(metadata)} {\n  tags = tags(${hclString(target.name)})\n}\n`,
    comment([`${target.description}.`]) +
      `target ${hclString(target.name)} {\n` +
      `  inherits = ${hclList([`_${target.variant}`, "docker-metadata-action", metadata])}\n` +
      `  target = ${hclString(target.stage)}\n` +
      `}\n`,
  ];
}

function hclList(values: string[]): string {
  return `[${values.map(hclString).join(", ")}]`;
}

/** A map of strings; the keys in `expressions` get that HCL expression (a bake variable) instead of their value. */
function hclMap(values: Record<string, string>, expressions: Record<string, string | undefined> = {}): string {
  const entries = Object.entries(values).map(([k, v]) => `    ${hclKey(k)} = ${expressions[k] ?? hclString(v)}\n`);
  return entries.length ? `{\n${entries.join("")}  }` : "{}";
}

function comment(lines: string[]): string {
  return lines.map((line) => `# ${commentText(line)}\n`).join("");
}
