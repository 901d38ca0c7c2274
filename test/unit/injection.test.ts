import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DockerfileParser } from "dockerfile-ast";
import fc from "fast-check";
import hcl from "hcl2-parser";
import { resolveBake } from "../../generator/bake/resolve.ts";
import { compile, OUTPUT_FILES, planFromConfig } from "../../generator/compile.ts";
import { emitBake } from "../../generator/emit/bake.ts";
import { emitDockerfile } from "../../generator/emit/dockerfile.ts";
import { ProblemsError, formatProblem } from "../../generator/errors.ts";
import { parseConfigBytes, parseConfigText, type LoadedConfig } from "../../generator/load.ts";
import { VARIABLES, type BuildPlan } from "../../generator/plan.ts";
import { MAIN_CONFIG, readRepoFile, helpers } from "../helpers/compile.ts";

/**
 * Issue 6, items 4 and 5: whatever a value holds, it cannot change what the generated files do,
 * and whatever the config file holds, the compiler ends in outputs or in problems, never a crash.
 */
const CONFIG_TEXT = readRepoFile(MAIN_CONFIG);
const BASE = parseConfigText(CONFIG_TEXT, MAIN_CONFIG);
const BASE_PLAN = planFromConfig(BASE).plan;

const nasty = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.constantFrom("${x}", "%{ if true }", "$${", "\\", '"', "\n", "\r\n", "\t", "\u0000", "é☃𝄞", "&& curl x | sh", "; rm -rf /", "$(id)", "`id`", "'", "\nRUN id", "a b"),
);
const nastyString = fc.array(nasty, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(""));
/** Mostly values the schema accepts (so the emitters run), sometimes anything at all. */
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._/:-]{0,15}$/) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.boolean(), fc.constant([]), fc.constant({})) },
);

describe("the bake file cannot be injected", () => {
  const values = fc.record({ label: nastyString, arg: nastyString, description: nastyString, image: nastyString, source: nastyString });
  /** The plan with random strings wherever a string reaches docker-bake.hcl. */
  function planWith(v: { label: string; arg: string; description: string; image: string; source: string }): BuildPlan {
    const plan: BuildPlan = structuredClone(BASE_PLAN);
    plan.labels["org.opencontainers.image.title"] = v.label;
    plan.args.NODE_IMAGE = v.arg;
    plan.variants[0].args.BASE_IMAGE = v.arg;
    plan.variants[0].description = v.description;
    plan.targets[0].description = v.description;
    for (const variable of plan.variables) {
      if (variable.name === VARIABLES.image) variable.default = v.image;
      if (variable.name === VARIABLES.source) variable.default = v.source;
      if (variable.name === VARIABLES.pipIndex) variable.default = v.arg;
    }
    return plan;
  }
  const blockNames = (parsed: Record<string, Record<string, unknown>>) => Object.fromEntries(Object.entries(parsed).map(([kind, blocks]) => [kind, Object.keys(blocks).sort()]));
  const baseline = blockNames(hcl.parseToObject(emitBake(BASE_PLAN))[0]);

  it("labels, args, descriptions and variable defaults read back exactly, and add no block", () => {
    fc.assert(
      fc.property(values, (v) => {
        const plan = planWith(v);
        const text = emitBake(plan);
        const [parsed, error] = hcl.parseToObject(text);
        assert.ok(parsed, `hcl2-parser rejects the file: ${JSON.stringify(error)}`);
        assert.deepEqual(blockNames(parsed), baseline, "the same variables, functions, groups and targets");
        const cpu = resolveBake(text, [plan.targets[0].name], {}).target[plan.targets[0].name];
        const nfc = (s: string) => s.normalize("NFC");
        assert.equal(cpu.labels["org.opencontainers.image.title"], nfc(v.label));
        assert.equal(cpu.args.NODE_IMAGE, nfc(v.arg));
        assert.equal(cpu.args.PIP_INDEX_URL, nfc(v.arg), "through the variable IOPAINT_PIP_INDEX_URL");
        assert.equal(cpu.args.BASE_IMAGE, nfc(v.arg));
        assert.equal(cpu.context, nfc(v.source));
        assert.deepEqual(cpu.tags, [`${nfc(v.image)}:${plan.targets[0].name}-latest`]);
      }),
      // Each run parses the bake file twice with hcl2-parser (about 60 ms here); 500 runs of up to
      // four of the pieces above each give every hostile constant many combinations.
      { numRuns: 500 },
    );
  });
});

/** BuildKit's reading of an ARG value: in double quotes, \ escapes only ", $ and \ (moby/buildkit shell lexer, processDoubleQuote). */
function buildkitWord(raw: string): string {
  return raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\(["$\\])/g, "$1") : raw;
}

/** An instruction's shape: its words (runs of path and name characters) reduced to "w", the rest as written. */
const skeleton = (text: string) => text.replace(/[A-Za-z0-9._/:+~@%-]+/g, "w");

function dockerfileShape(text: string) {
  const instructions = DockerfileParser.parse(text).getInstructions();
  return {
    keywords: instructions.map((i) => (i.getKeyword() === "ARG" ? `ARG ${i.getArgumentsContent()?.split("=")[0]}` : i.getKeyword())),
    skeletons: instructions.filter((i) => i.getKeyword() !== "ARG").map((i) => skeleton(i.getTextContent())),
    args: Object.fromEntries(
      instructions
        .filter((i) => i.getKeyword() === "ARG")
        .map((i) => {
          const content = i.getTextContent().slice("ARG ".length);
          const eq = content.indexOf("=");
          return [content.slice(0, eq), buildkitWord(content.slice(eq + 1))];
        }),
    ),
  };
}

/** Every leaf of the config (strings, numbers, booleans, list items), as a path. */
function leaves(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((item, i) => leaves(item, [...path, i]));
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [path];
}

function withValue(raw: Record<string, unknown>, path: (string | number)[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(raw);
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]] = value;
  return copy;
}

/** The compiler's contract: outputs, or problems that each say what and where. Anything else is a crash. */
function compileOrProblems(loaded: LoadedConfig): { outputs?: Record<string, string>; plan?: BuildPlan } {
  try {
    const { outputs, plan } = compile(loaded, helpers);
    return { outputs, plan };
  } catch (error) {
    if (!(error instanceof ProblemsError)) throw error;
    assert.ok(error.problems.length > 0);
    for (const problem of error.problems) {
      assert.ok(problem.message.length > 0);
      assert.ok(problem.location?.path !== undefined || problem.location?.file, `a problem without a place: ${formatProblem(problem)}`);
    }
    return {};
  }
}

describe("the Dockerfile cannot be injected", () => {
  const baseline = dockerfileShape(emitDockerfile(BASE_PLAN));
  const paths = leaves(BASE.raw);

  it("a random value in any field is rejected with a message, or gives the planned instructions", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...paths), fieldValue, (path, value) => {
        const raw = withValue(BASE.raw, path, value);
        const { outputs, plan } = compileOrProblems({ ...BASE, raw });
        if (!outputs || !plan) return;
        accepted++;
        const shape = dockerfileShape(outputs[OUTPUT_FILES.dockerfile]);
        assert.deepEqual(shape.keywords, baseline.keywords, `${path.join(".")} = ${JSON.stringify(value)} changed the instruction list`);
        assert.deepEqual(shape.skeletons, baseline.skeletons, `${path.join(".")} = ${JSON.stringify(value)} changed an instruction's shape`);
        for (const [name, expected] of Object.entries(plan.dockerfile.argDefaults)) assert.equal(shape.args[name], expected, `ARG ${name}`);
      }),
      { numRuns: 3000 },
    );
    assert.ok(accepted > 300, `only ${accepted} random values were accepted: the property ran on too few Dockerfiles`);
  });
});

describe("mutation fuzzing of config/iopaint.toml", () => {
  const configLines = CONFIG_TEXT.split("\n");
  const mutation = fc.oneof(
    fc.nat(configLines.length - 1).map((i) => ({ what: `delete line ${i + 1}`, apply: () => configLines.filter((_, j) => j !== i).join("\n") })),
    fc.nat(configLines.length - 1).map((i) => ({ what: `duplicate line ${i + 1}`, apply: () => [...configLines.slice(0, i + 1), ...configLines.slice(i)].join("\n") })),
    fc.tuple(fc.nat(configLines.length - 1), fc.nat(configLines.length - 1)).map(([a, b]) => ({
      what: `swap the values of lines ${a + 1} and ${b + 1}`,
      apply: () => {
        const lines = [...configLines];
        const value = (line: string) => /^([\w-]+\s*=\s*)(.*)$/.exec(line);
        const [va, vb] = [value(lines[a]), value(lines[b])];
        if (va && vb) [lines[a], lines[b]] = [va[1] + vb[2], vb[1] + va[2]];
        return lines.join("\n");
      },
    })),
    fc.nat(CONFIG_TEXT.length).map((n) => ({ what: `truncate at byte ${n}`, apply: () => CONFIG_TEXT.slice(0, n) })),
    fc.tuple(fc.nat(CONFIG_TEXT.length), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, bytes]) => ({
      what: `insert bytes ${Buffer.from(bytes).toString("hex")} at ${at}`,
      apply: () => Buffer.concat([Buffer.from(CONFIG_TEXT.slice(0, at)), bytes, Buffer.from(CONFIG_TEXT.slice(at))]),
    })),
    fc.tuple(fc.nat(CONFIG_TEXT.length - 1), fc.constantFrom(..."\"'[]{}=#,.\\\n 0aZ$")).map(([at, ch]) => ({
      what: `replace byte ${at} with ${JSON.stringify(ch)}`,
      apply: () => CONFIG_TEXT.slice(0, at) + ch + CONFIG_TEXT.slice(at + 1),
    })),
  );

  it("2,000 random edits each end in a clean error or a valid generation", () => {
    const outcomes = { generated: 0, rejected: 0 };
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (edits) => {
        let text: string | Uint8Array = CONFIG_TEXT;
        for (const edit of edits) text = typeof text === "string" ? edit.apply() : text;
        const bytes = typeof text === "string" ? Buffer.from(text) : text;
        let loaded: LoadedConfig;
        try {
          loaded = parseConfigBytes(bytes, MAIN_CONFIG);
        } catch (error) {
          assert.ok(error instanceof ProblemsError, `${edits.map((e) => e.what).join(", ")}: ${(error as Error).stack}`);
          outcomes.rejected++;
          return;
        }
        const { outputs } = compileOrProblems(loaded);
        outcomes[outputs ? "generated" : "rejected"]++;
      }),
      { numRuns: 2000 },
    );
    assert.ok(outcomes.generated > 0 && outcomes.rejected > 0, JSON.stringify(outcomes));
  });
});
