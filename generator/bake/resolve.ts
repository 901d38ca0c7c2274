import { compareReleases } from "../compat/table.ts";
import hcl from "hcl2-parser";
import { closest, fail } from "../errors.ts";
import type { BuildArg } from "../plan.ts";
import { builtinFunctions, evaluate, evaluateTemplate, ExpressionError, type Scope, type Value } from "./expression.ts";

/** A target as `docker buildx bake --print` shows it, for the attributes the generator uses. */
export interface ResolvedTarget {
  context: string;
  dockerfile: string;
  /** By the names generator/plan.ts declares; `--set T.args.X=V` may add others. */
  args: Partial<Record<BuildArg, string>>;
  labels: Record<string, string>;
  /** Named contexts (`iopaint-helpers`: `cwd://docker/helpers`). */
  contexts?: Record<string, string>;
  tags: string[];
  target?: string;
  platforms?: string[];
  "cache-from"?: string[];
  "cache-to"?: string[];
  /** Attestations (`type=provenance,mode=min`); the fallback's docker build makes none. */
  attest?: string[];
  /** BuildKit secrets (`id=iopaint-ca,src=/path/ca.pem`). */
  secret?: string[];
}

export interface ResolvedBake {
  group: Record<string, { targets: string[] }>;
  target: Record<string, ResolvedTarget>;
}

type Block = Record<string, unknown>;
interface BakeDocument {
  variable?: Record<string, Block[]>;
  function?: Record<string, Block[]>;
  group?: Record<string, Block[]>;
  target?: Record<string, Block[]>;
}

const MAP_ATTRIBUTES = new Set(["args", "labels", "contexts"]);

/**
 * Pure: reads docker-bake.hcl text and resolves the requested targets and groups the way
 * `docker buildx bake` does for the subset the generator emits: variables with environment
 * overrides, user functions, groups, `inherits` (maps merge key by key, other attributes are
 * replaced, a target's own attributes win) and several blocks of one name merging in order.
 */
export function resolveBake(text: string, requested: string[], env: Record<string, string | undefined>): ResolvedBake {
  const [parsed, error] = hcl.parseToObject(keepEscapes(text)) as [BakeDocument | null, unknown];
  if (!parsed)
    fail({ kind: "syntax", message: `docker-bake.hcl is not valid HCL${error && Object.keys(error).length ? `: ${JSON.stringify(error)}` : ""}`, hint: "regenerate it with `npm run generate`" });
  const scope = buildScope(parsed, env);
  const groups = Object.fromEntries(Object.entries(parsed.group ?? {}).map(([name, blocks]) => [name, blocks.flatMap((b) => (b.targets as string[]) ?? [])]));
  const targetBlocks = parsed.target ?? {};

  const order: string[] = [];
  const seen = new Set<string>();
  const expand = (name: string, via: string[]) => {
    if (groups[name]) {
      if (via.includes(name)) fail({ kind: "reference", message: `group "${name}" contains itself (${[...via, name].join(" → ")})` });
      for (const member of groups[name]) expand(member, [...via, name]);
    } else if (targetBlocks[name]) {
      if (!seen.has(name)) {
        order.push(name);
        seen.add(name);
      }
    } else {
      const suggestion = closest(name, [...Object.keys(groups), ...Object.keys(targetBlocks).filter((t) => !t.startsWith("_") && !t.startsWith("docker-metadata-action"))]);
      fail({ kind: "usage", message: `unknown target or group "${name}"`, hint: suggestion ? `did you mean "${suggestion}"?` : `groups: ${Object.keys(groups).join(", ")}` });
    }
  };
  for (const name of requested.length ? requested : ["default"]) expand(name, []);

  const resolving: string[] = [];
  const resolveTarget = (name: string): Block => {
    if (resolving.includes(name)) fail({ kind: "reference", message: `target "${name}" inherits from itself (${[...resolving, name].join(" → ")})` });
    const blocks = targetBlocks[name];
    if (!blocks) fail({ kind: "reference", message: `a target inherits from "${name}", which is not defined` });
    resolving.push(name);
    const own: Block = {};
    for (const block of blocks) merge(own, evaluateBlock(block, scope));
    const result: Block = {};
    for (const parent of (own.inherits as string[] | undefined) ?? []) merge(result, resolveTarget(parent));
    delete own.inherits;
    merge(result, own);
    resolving.pop();
    return result;
  };

  const target: Record<string, ResolvedTarget> = {};
  for (const name of order) {
    const block = resolveTarget(name);
    target[name] = {
      context: (block.context as string) ?? ".",
      ...(block.contexts !== undefined ? { contexts: sortedKeys(block.contexts) } : {}),
      dockerfile: (block.dockerfile as string) ?? "Dockerfile",
      args: sortedKeys(block.args),
      labels: sortedKeys(block.labels),
      tags: (block.tags as string[]) ?? [],
      ...(block.target !== undefined ? { target: block.target as string } : {}),
      ...nonEmpty("platforms", block.platforms),
      ...nonEmpty("cache-from", block["cache-from"]),
      ...nonEmpty("cache-to", block["cache-to"]),
      ...nonEmpty("attest", block.attest),
      ...nonEmpty("secret", block.secret),
    };
  }
  const group: Record<string, { targets: string[] }> = {};
  for (const name of requested.length ? requested : ["default"]) if (groups[name]) group[name] = { targets: groups[name] };
  return { group, target };
}

/**
 * How `--print` shows cache-from, cache-to, secret and attest: buildx 0.12 to 0.19 as the CSV
 * strings the bake file gives ("type=local,dest=/x,mode=max"); buildx 0.20 and later, which made
 * them composable attributes (docker/buildx#2953), as objects with their keys in order
 * ({"dest": "/x", "mode": "max", "type": "local"}). Both are kept as golden files:
 * test/fixtures/bake-print/buildx-0.13 and buildx-0.29.
 */
export type PrintStyle = "csv" | "objects";
export const OBJECT_PRINT_BUILDX = "0.20.0";

export function printStyleOf(buildxVersion: string): PrintStyle {
  return compareReleases(buildxVersion, OBJECT_PRINT_BUILDX) >= 0 ? "objects" : "csv";
}

const CSV_ATTRIBUTES = ["cache-from", "cache-to", "secret", "attest"] as const;

/**
 * "type=local,dest=/x" → {"dest": "/x", "type": "local"}, as buildx 0.20+ prints an entry: every
 * value a string but an attestation's `disabled`, which it prints as a boolean.
 */
function csvObject(entry: string): Record<string, string | boolean> {
  const fields = entry.split(",").map((part): [string, string | boolean] => {
    const at = part.indexOf("=");
    if (at < 0) return [part, ""];
    const [key, value] = [part.slice(0, at), part.slice(at + 1)];
    return [key, key === "disabled" ? value === "true" : value];
  });
  return Object.fromEntries(fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Pure: the resolved targets in the shape `docker buildx bake --print` prints them (checked
 * against buildx's own output: test/fixtures/bake-print/): a "default" group holding what was
 * asked for (unless that was the default group itself), no empty args, labels or tags, and the
 * CSV attributes in the given buildx's style.
 */
export function printedBake(
  resolved: ResolvedBake,
  requested: readonly string[],
  style: PrintStyle = "objects",
): { group: Record<string, { targets: string[] }>; target: Record<string, Record<string, unknown>> } {
  const group = { ...resolved.group };
  if (requested.length && !requested.includes("default")) group.default = { targets: [...requested] };
  const target = Object.fromEntries(
    Object.entries(resolved.target).map(([name, t]) => {
      const { args, labels, tags, ...rest } = t;
      const printed: Record<string, unknown> = { ...rest };
      if (style === "objects") for (const key of CSV_ATTRIBUTES) if (t[key]) printed[key] = t[key].map(csvObject);
      return [name, { ...printed, ...(Object.keys(args).length ? { args } : {}), ...(Object.keys(labels).length ? { labels } : {}), ...(tags.length ? { tags } : {}) }];
    }),
  );
  return { group, target };
}

/**
 * hcl2-parser turns the escapes $${ and %%{ into plain ${ and %{ in its output, where they look
 * like the interpolations this resolver then evaluates. Spelling each escape, and each lone $ or
 * % (which could otherwise join the next one), as a reference to a variable holding "$" or "%"
 * keeps a literal literal: the parser passes the reference through, and evaluation puts the
 * character back without reading what follows it. Real interpolations are copied as they are.
 */
const LITERAL = { $: "__iopaint_literal_dollar", "%": "__iopaint_literal_percent" } as const;

function keepEscapes(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if ((ch === "$" || ch === "%") && text[i + 1] === ch && text[i + 2] === "{") {
      out += `\${${LITERAL[ch]}}{`;
      i += 2;
    } else if ((ch === "$" || ch === "%") && text[i + 1] !== "{") out += `\${${LITERAL[ch]}}`;
    else out += ch;
  }
  return out;
}

function buildScope(parsed: BakeDocument, env: Record<string, string | undefined>): Scope {
  const scope: Scope = { variables: { [LITERAL.$]: "$", [LITERAL["%"]]: "%" }, functions: { ...builtinFunctions } };
  for (const [name, blocks] of Object.entries(parsed.variable ?? {})) {
    const fallback = blocks[blocks.length - 1]?.default as Value | undefined;
    const fromEnv = env[name];
    // buildx: an environment variable of the same name overrides the default, typed like it.
    scope.variables[name] =
      fromEnv === undefined
        ? typeof fallback === "string"
          ? (evaluateTemplate(fallback, scope) as Value)
          : (fallback ?? "")
        : typeof fallback === "boolean"
          ? fromEnv === "true" || fromEnv === "1"
          : typeof fallback === "number"
            ? Number(fromEnv)
            : fromEnv;
  }
  for (const [name, blocks] of Object.entries(parsed.function ?? {})) {
    const block = blocks[blocks.length - 1];
    const params = ((block.params as string[]) ?? []).map((p) => p.replace(/^\$\{(.*)\}$/, "$1"));
    const result = String(block.result).replace(/^\$\{([\s\S]*)\}$/, "$1");
    scope.functions[name] = (args) => evaluate(result, { ...scope, variables: { ...scope.variables, ...Object.fromEntries(params.map((p, i) => [p, args[i] ?? null])) } });
  }
  return scope;
}

function evaluateBlock(block: Block, scope: Scope): Block {
  const out: Block = {};
  for (const [key, raw] of Object.entries(block)) {
    try {
      out[key] = evaluateValue(raw, scope);
    } catch (error) {
      if (error instanceof ExpressionError) fail({ kind: "syntax", message: `docker-bake.hcl: ${key}: ${error.message}` });
      throw error;
    }
  }
  return out;
}

function evaluateValue(raw: unknown, scope: Scope): unknown {
  if (typeof raw === "string") return evaluateTemplate(raw, scope);
  if (Array.isArray(raw)) return raw.map((item) => evaluateValue(item, scope));
  if (raw !== null && typeof raw === "object") return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, evaluateValue(v, scope)]));
  return raw;
}

function merge(into: Block, from: Block): void {
  for (const [key, value] of Object.entries(from)) {
    into[key] = MAP_ATTRIBUTES.has(key) && typeof into[key] === "object" ? { ...(into[key] as object), ...(value as object) } : value;
  }
}

/** Maps in key order, as buildx prints them (Go sorts map keys). */
function sortedKeys(value: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries((value as Record<string, string>) ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function nonEmpty(key: string, value: unknown): Record<string, string[]> {
  return Array.isArray(value) && value.length ? { [key]: value as string[] } : {};
}
