import { Ajv, type ErrorObject } from "ajv";
import schema from "../config/schema.json" with { type: "json" };
import type { Config } from "./config-types.ts";
import { closest, type Problem } from "./errors.ts";
import type { LoadedConfig } from "./load.ts";
import { locateKey } from "./locate.ts";

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
const validateSchema = ajv.compile(schema);

/**
 * Pure: checks a loaded config against config/schema.json and the references between its parts
 * (targets → variants, groups → targets). Returns the typed config with schema defaults filled
 * in, or every problem found, each with the line it is on.
 */
export function validateConfig(loaded: LoadedConfig): { config: Config; problems: [] } | { config?: undefined; problems: Problem[] } {
  const candidate = structuredClone(loaded.raw);
  if (Object.keys(candidate).length === 0) {
    return { problems: [{ kind: "schema", message: "the config is empty", location: { file: loaded.file }, hint: "start from config/iopaint.toml; every key is described in docs/config.md" }] };
  }
  if (!validateSchema(candidate)) {
    return { problems: relevant(validateSchema.errors ?? []).map((error) => schemaProblem(error, loaded)) };
  }
  const config = candidate as unknown as Config;
  const problems = referenceProblems(config).map((problem) => withPosition(problem, loaded));
  return problems.length ? { problems } : { config, problems: [] };
}

/** Attaches file:line:col to a problem that names a config path. */
export function withPosition(problem: Problem, loaded: LoadedConfig): Problem {
  const path = problem.location?.path;
  const position = path ? locateKey(loaded.text, path.split(".")) : undefined;
  return { ...problem, location: { ...problem.location, file: loaded.file, line: position?.line, column: position?.column } };
}

function schemaProblem(error: ErrorObject, loaded: LoadedConfig): Problem {
  const path = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
  const parentSchema = error.parentSchema as { properties?: Record<string, unknown>; title?: string; description?: string; examples?: unknown[] } | undefined;
  const here = path.join(".");
  const example = parentSchema?.examples?.[0];
  const forExample = example !== undefined ? `for example ${JSON.stringify(example)}` : undefined;
  const problem = ((): Problem => {
    switch (error.keyword) {
      case "additionalProperties": {
        const key = String(error.params.additionalProperty);
        const known = Object.keys(parentSchema?.properties ?? {});
        const suggestion = closest(key, known);
        return {
          kind: "schema",
          message: `unknown key "${key}"${here ? ` in [${here}]` : " at the top level"}`,
          location: { path: [...path, key].join(".") },
          hint: suggestion ? `did you mean "${suggestion}"?` : `allowed keys: ${known.join(", ")}`,
        };
      }
      case "required": {
        const key = String(error.params.missingProperty);
        return {
          kind: "schema",
          message: `missing required key "${key}"${here ? ` in [${here}]` : ""}`,
          location: { path: here },
          hint: `add ${key} = … (see docs/config.md)`,
        };
      }
      case "propertyNames":
        return {
          kind: "schema",
          message: `invalid name "${String(error.params.propertyName)}" in [${here}]: use lower-case letters, digits and dashes, starting with a letter`,
          location: { path: [...path, String(error.params.propertyName)].join(".") },
        };
      case "enum": {
        const allowed = (error.params.allowedValues as unknown[]).map(String);
        // With two or three choices the message lists them all; "gpu" → "did you mean cpu?" misleads.
        const suggestion = typeof error.data === "string" && allowed.length > 3 ? closest(error.data, allowed) : undefined;
        return {
          kind: "schema",
          message: `${JSON.stringify(error.data)} is not allowed: expected one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}`,
          location: { path: here },
          hint: suggestion ? `did you mean "${suggestion}"?` : undefined,
        };
      }
      case "type": {
        // TOML reads 3.10 as the number 3.1: a version must be quoted to stay what was written.
        const key = path.at(-1) ?? "";
        const quoted = example === undefined ? "" : /^\d+$/.test(key) ? `, e.g. ${JSON.stringify(example)}` : `: ${key} = ${JSON.stringify(example)}`;
        const quote = error.params.type === "string" && typeof error.data !== "object" ? `put the value in quotes${quoted}` : undefined;
        return {
          kind: "schema",
          message: `expected ${error.params.type}, got ${describeType(error.data)} ${shorten(error.data)}`,
          location: { path: here },
          hint: quote,
        };
      }
      case "pattern": {
        const what = parentSchema?.title ?? parentSchema?.description ?? "the required format";
        return {
          kind: "schema",
          message: `${shorten(error.data)} is not valid here: expected ${lowerFirst(what.replace(/\.$/, ""))}`,
          location: { path: here },
          hint: forExample,
        };
      }
      case "minimum":
      case "maximum":
        return {
          kind: "schema",
          message: `${shorten(error.data)} is too ${error.keyword === "minimum" ? "small" : "large"}: the ${error.keyword === "minimum" ? "smallest" : "largest"} allowed is ${error.params.limit}`,
          location: { path: here },
        };
      case "minItems":
      case "minProperties":
        return {
          kind: "schema",
          message: `${here ? `[${here}]` : "the config"} is empty`,
          location: { path: here },
          hint:
            here === "variants"
              ? "define at least one variant, e.g. [variants.cpu]"
              : path[0] === "groups"
                ? "list at least one target, or remove the group"
                : (parentSchema as { default?: unknown })?.default !== undefined
                  ? "remove the key to use the default, or give at least one value"
                  : "give at least one value",
        };
      case "uniqueItems": {
        const items = error.data as unknown[];
        return {
          kind: "schema",
          message: `${JSON.stringify(items[error.params.j as number])} is listed twice`,
          location: { path: here },
          hint: "remove the second one",
        };
      }
      default:
        return { kind: "schema", message: `${shorten(error.data)} ${error.message ?? "is invalid"}`, location: { path: here } };
    }
  })();
  return withPosition({ ...problem, hint: problem.hint ?? (here ? `see ${documentedKey(path)} in docs/config.md` : undefined) }, loaded);
}

/** "variants.gpu.platforms.0" → "variants.<name>.platforms", the key as docs/config.md lists it. */
export function documentedKey(path: string[]): string {
  const named = ["variants", "targets", "groups"].includes(path[0]) && path.length > 1 ? [path[0], "<name>", ...path.slice(2)] : path;
  return named.filter((part) => !/^\d+$/.test(part)).join(".");
}

/**
 * The errors worth a line each. ajv reports a failed $ref'd pattern once per path, a bad property
 * name twice (its pattern, then propertyNames), and a misspelt key twice (the unknown key, then
 * the missing one): keep one problem per mistake, the one that names the fix.
 */
function relevant(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  const misspelt = new Set<string>();
  for (const error of errors) {
    if (error.keyword !== "additionalProperties") continue;
    const known = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {});
    const meant = closest(String(error.params.additionalProperty), known);
    if (meant) misspelt.add(`${error.instancePath}|${meant}`);
  }
  return errors.filter((error) => {
    if (error.propertyName !== undefined) return false;
    if (error.keyword === "required" && misspelt.has(`${error.instancePath}|${error.params.missingProperty}`)) return false;
    const key = `${error.instancePath}|${error.keyword}|${JSON.stringify(error.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function referenceProblems(config: Config): Problem[] {
  const problems: Problem[] = [];
  const variants = Object.keys(config.variants);
  const targets = Object.keys(config.targets);
  for (const [name, target] of Object.entries(config.targets)) {
    if (name.startsWith("docker-metadata-action")) {
      problems.push({ kind: "reference", message: `target name "${name}" is reserved for docker/metadata-action`, location: { path: `targets.${name}` }, hint: "choose another name" });
    }
    if (!config.variants[target.variant]) {
      const suggestion = closest(target.variant, variants);
      problems.push({
        kind: "reference",
        message: `target "${name}" uses variant "${target.variant}", which is not defined`,
        location: { path: `targets.${name}.variant` },
        hint: suggestion ? `did you mean "${suggestion}"?` : `defined variants: ${variants.join(", ")}`,
      });
    }
  }
  if (config.python.installer === "uv" && !config.versions.uv) {
    problems.push({
      kind: "reference",
      message: 'installer "uv" needs its release, and [versions] has no uv',
      location: { path: "python.installer" },
      hint: 'pin it in [versions], for example uv = "0.13.9"',
    });
  }
  // A directory inside another listed one would leave with the outer one: its layer would be empty.
  for (const inner of config.source.code_layers) {
    const outer = config.source.code_layers.find((dir) => inner.startsWith(`${dir}/`));
    if (outer) {
      problems.push({
        kind: "reference",
        message: `code layer "${inner}" is inside "${outer}", which is a layer of its own already`,
        location: { path: "source.code_layers" },
        hint: `list only one of them: "${outer}"'s layer holds "${inner}" with the rest of it`,
      });
    }
  }
  for (const [group, members] of Object.entries(config.groups)) {
    if (config.targets[group]) {
      problems.push({ kind: "reference", message: `"${group}" is both a group and a target`, location: { path: `groups.${group}` }, hint: "rename one of them; bake cannot tell them apart" });
    }
    for (const member of members) {
      if (!config.targets[member] && !config.groups[member]) {
        const suggestion = closest(member, [...targets, ...Object.keys(config.groups)]);
        problems.push({
          kind: "reference",
          message: `group "${group}" lists "${member}", which is neither a target nor a group`,
          location: { path: `groups.${group}` },
          hint: suggestion ? `did you mean "${suggestion}"?` : `targets: ${targets.join(", ")}`,
        });
      }
    }
  }
  return problems;
}

function describeType(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : Number.isInteger(value) ? "integer" : typeof value;
}

function shorten(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
