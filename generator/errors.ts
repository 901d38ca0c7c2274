import { ExitCode } from "./exit-codes.ts";

/** Where a problem is: a position in a file (1-based) and/or a path into the config ("variants.gpu.cuda"). */
export interface Location {
  file?: string;
  line?: number;
  column?: number;
  path?: string;
}

export type ProblemKind = "syntax" | "schema" | "compat" | "reference" | "usage" | "environment" | "drift";

/** One thing wrong with the input, as a value: what, where, and how to fix it. */
export interface Problem {
  kind: ProblemKind;
  message: string;
  location?: Location;
  hint?: string;
}

const exitCodeOfKind: Record<ProblemKind, number> = {
  syntax: ExitCode.badInput,
  schema: ExitCode.badInput,
  compat: ExitCode.badInput,
  reference: ExitCode.badInput,
  usage: ExitCode.badInput,
  environment: ExitCode.environment,
  drift: ExitCode.failed,
};

/** Thrown by the pipeline when it cannot go on; carries every problem found, not just the first. */
export class ProblemsError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super(problems.map((p) => p.message).join("\n"));
    this.name = "ProblemsError";
    this.problems = problems;
  }
  get exitCode(): number {
    return Math.max(...this.problems.map((p) => exitCodeOfKind[p.kind]));
  }
}

export function fail(problem: Problem): never {
  throw new ProblemsError([problem]);
}

/** "config/iopaint.toml:12:3: versions.torch: message\n  hint: …" */
export function formatProblem(problem: Problem): string {
  const { location, hint } = problem;
  let where = "";
  if (location?.file) {
    where = location.file;
    if (location.line) where += `:${location.line}${location.column ? `:${location.column}` : ""}`;
    where += ": ";
  }
  const path = location?.path ? `${location.path}: ` : "";
  return `${where}${path}${problem.message}${hint ? `\n  hint: ${hint}` : ""}`;
}

/** Closest candidate by edit distance, for "did you mean" hints; undefined when nothing is close. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
