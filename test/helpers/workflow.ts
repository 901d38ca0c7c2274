import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Evaluator, Lexer, Parser, data } from "@actions/expressions";
import { isBasicExpression, isBoolean, isMapping, isNumber, isSequence, isString, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import { execa } from "execa";
import { readRepoFile } from "./compile.ts";

/**
 * .github/workflows/images.yml as a GitHub runner reads it: parsed and checked by GitHub's own
 * parser (@actions/workflow-parser) and its `${{ … }}` expressions evaluated by GitHub's own
 * evaluator (@actions/expressions), so that tests see the workflow GitHub sees. Neither can run
 * the workflow's actions; tests run its shell steps and the bake invocation it makes.
 */
export const WORKFLOW = ".github/workflows/images.yml";

type TemplateToken = Parameters<typeof isString>[0];

export type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };
export type Step = { name?: string; id?: string; uses?: string; run?: string; if?: string; with?: Record<string, Plain>; env?: Record<string, Plain> };
export type Job = { needs?: string | string[]; env?: Record<string, Plain>; steps: Step[] };
export type Workflow = { on: Record<string, Plain>; env?: Record<string, Plain>; jobs: Record<string, Job> };

/** The workflow as plain values; an expression is kept as the text `${{ <expression> }}`. */
export function loadWorkflow(file = WORKFLOW): Workflow {
  const parsed = parseWorkflow({ name: file, content: readRepoFile(file) }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors();
  if (errors.length || !parsed.value) throw new Error(`${file}: GitHub's parser reports ${errors.map((e) => e.message).join("; ") || "no workflow"}`);
  return plain(parsed.value) as unknown as Workflow;
}

function plain(token: TemplateToken): Plain {
  if (isString(token) || isBoolean(token) || isNumber(token)) return token.value;
  if (isBasicExpression(token)) return `\${{ ${token.expression} }}`;
  if (isSequence(token)) return Array.from({ length: token.count }, (_, i) => plain(token.get(i)));
  if (isMapping(token)) {
    const out: Record<string, Plain> = {};
    for (let i = 0; i < token.count; i++) {
      const { key, value } = token.get(i);
      out[String(plain(key))] = plain(value);
    }
    return out;
  }
  return null;
}

/** The contexts an expression may read (github, env, vars, secrets, inputs, steps). */
export type Contexts = Record<string, Record<string, Plain>>;

/**
 * A value as the runner sees it: `${{ expr }}` alone is evaluated (as a string, the way GitHub
 * hands it to a step), anything else is literal text.
 */
export function evaluate(value: Plain | undefined, contexts: Contexts): string {
  const text = String(value ?? "");
  const match = /^\$\{\{\s*([\s\S]*?)\s*\}\}$/.exec(text);
  if (!match) return text;
  const lexed = new Lexer(match[1]).lex();
  const expression = new Parser(lexed.tokens, Object.keys(contexts), []).parse();
  return new Evaluator(expression, toData(contexts) as data.Dictionary).evaluate().coerceString();
}

function toData(value: Plain): data.ExpressionData {
  if (value === null) return new data.Null();
  if (typeof value === "string") return new data.StringData(value);
  if (typeof value === "boolean") return new data.BooleanData(value);
  if (typeof value === "number") return new data.NumberData(value);
  if (Array.isArray(value)) return new data.Array(...value.map(toData));
  return new data.Dictionary(...Object.entries(value).map(([key, item]) => ({ key, value: toData(item) })));
}

/** GitHub's `github` context for an event, as far as this workflow reads it. */
export function githubContext(event: { name: "push" | "pull_request"; ref: string }): Record<string, Plain> {
  const refName = event.ref.replace(/^refs\/(heads|tags)\//, "").replace(/^refs\/pull\/(\d+)\/merge$/, "$1/merge");
  return { event_name: event.name, ref: event.ref, ref_name: refName, repository_owner: "example", actor: "example" };
}

/** A job's env after the workflow's, each value evaluated in order (a job value may read env.*); `vars`: the repository variables. */
export function jobEnv(workflow: Workflow, jobName: string, github: Record<string, Plain>, vars: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  const contexts = (): Contexts => ({ github, env, vars, secrets: {}, inputs: {}, steps: {} });
  for (const block of [workflow.env ?? {}, workflow.jobs[jobName].env ?? {}]) {
    for (const [name, value] of Object.entries(block)) env[name] = evaluate(value, contexts());
  }
  return env;
}

/** The steps of a job that use an action (`docker/bake-action`, whatever its version). */
export function stepsUsing(job: Job, action: string): Step[] {
  return job.steps.filter((step) => step.uses?.split("@")[0] === action);
}

/** An action input that is a list: one item per line (or comma-separated), blank lines dropped. */
export function listInput(value: Plain | undefined): string[] {
  return String(value ?? "")
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter(Boolean);
}

/** What a job hands to `docker buildx bake`, as the runner would for one event. */
export interface BakeInvocation {
  /** The job's env plus what its shell steps wrote to $GITHUB_ENV. */
  env: Record<string, string>;
  files: string[];
  targets: string[];
  push: boolean;
  /** The `provenance` input, as `--provenance` gets it ("mode=min", "false"); undefined when empty. */
  provenance?: string;
  /** How many bake files only an action writes (docker/metadata-action's outputs), left out of `files`. */
  actionFiles: number;
}

/**
 * The bake step of `jobName` for one event: the job's env, then each shell step that writes to
 * $GITHUB_ENV run in `workspace` as GitHub runs a step without `shell:` (`bash -e`), then the bake
 * step's inputs evaluated. Other shell steps (the runner's disk clean-up) are not run here.
 */
export async function bakeInvocation(workflow: Workflow, jobName: string, github: Record<string, Plain>, workspace: string): Promise<BakeInvocation> {
  const job = workflow.jobs[jobName];
  const env = jobEnv(workflow, jobName, github);
  const bakeStep = stepsUsing(job, "docker/bake-action")[0];
  if (!bakeStep) throw new Error(`${WORKFLOW}: job ${jobName} has no docker/bake-action step`);
  for (const step of job.steps.slice(0, job.steps.indexOf(bakeStep))) {
    if (!step.run?.includes("GITHUB_ENV")) continue;
    const dir = await mkdtemp(join(tmpdir(), "iopaint-github-env-"));
    try {
      const githubEnv = join(dir, "env");
      await writeFile(githubEnv, "");
      await execa("bash", ["-e", "-c", step.run], {
        cwd: workspace,
        env: { ...env, GITHUB_ENV: githubEnv, GITHUB_REF: String(github.ref), GITHUB_REF_NAME: String(github.ref_name), GITHUB_EVENT_NAME: String(github.event_name) },
      });
      for (const line of (await readFile(githubEnv, "utf8")).split("\n").filter(Boolean)) {
        const at = line.indexOf("=");
        env[line.slice(0, at)] = line.slice(at + 1);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  // The metadata steps' outputs are files the action writes; without it they are empty.
  const contexts: Contexts = { github, env, vars: {}, secrets: {}, inputs: {}, steps: {} };
  const files = listInput(evaluate(bakeStep.with?.files, contexts));
  return {
    env,
    files: files.filter((file) => file !== "cwd://"),
    actionFiles: files.filter((file) => file === "cwd://").length,
    targets: listInput(evaluate(bakeStep.with?.targets, contexts)),
    push: evaluate(bakeStep.with?.push, contexts) === "true",
    provenance: evaluate(bakeStep.with?.provenance, contexts) || undefined,
  };
}
