/**
 * Reads BuildKit's plain progress output (`--progress=plain`, the same from docker build and
 * buildx): which build steps ran, which came from the cache, which failed and what they printed.
 * Pure: text in, facts out. Tests decide cache reuse from this, never from timing.
 */
export interface BuildStep {
  /** BuildKit's vertex number in this build ("#12"). */
  id: number;
  /** e.g. "builder 7/9"; "" for internal steps. */
  stage: string;
  /** e.g. "RUN pip install …" or "[internal] load build context". */
  name: string;
  state: "cached" | "done" | "error" | "running";
  /** Output lines the step printed, without BuildKit's "#N 1.234" prefix. */
  output: string[];
}

export interface BuildReport {
  steps: BuildStep[];
  /** Dockerfile steps, each counted once; internal steps and FROM (a reference, not work) excluded. */
  total: number;
  cached: number;
  executed: number;
  failed?: BuildStep;
  /** Bytes of build context BuildKit reported sending ("transferring context: 1.23MB"), summed. */
  contextBytes: number;
}

// "[builder 7/9] RUN …", "[2/5] RUN …" (a stage without a name) or "[internal] load …".
const STEP = /^#(\d+) (\[(?:(?:([^\]]+?) )?(\d+\/\d+)|internal)\] ?(.*)|.*)$/;

export function parseProgress(text: string): BuildReport {
  const steps = new Map<number, BuildStep>();
  const contextSizes = new Map<number, number>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^#(\d+) (.*)$/.exec(line);
    if (!match) continue;
    const id = Number(match[1]);
    const rest = match[2];
    const header = STEP.exec(line);
    let step = steps.get(id);
    if (!step && header?.[2]?.startsWith("[")) {
      const internal = header[2].startsWith("[internal]");
      step = { id, stage: internal ? "" : [header[3], header[4]].filter(Boolean).join(" "), name: internal ? header[2] : header[5], state: "running", output: [] };
      steps.set(id, step);
      continue;
    }
    if (!step) continue;
    if (rest === "CACHED") step.state = "cached";
    else if (/^DONE\b/.test(rest)) step.state = step.state === "cached" ? "cached" : "done";
    else if (/^ERROR\b/.test(rest)) {
      step.state = "error";
      step.output.push(rest);
    } else if (/^sha256:/.test(rest)) continue;
    else {
      const transfer = /transferring context: ([\d.]+)([kMG]?B)/.exec(rest);
      if (transfer && step.name === "[internal] load build context") contextSizes.set(id, toBytes(Number(transfer[1]), transfer[2]));
      step.output.push(rest.replace(/^\d+\.\d+ /, ""));
    }
  }
  const all = [...steps.values()];
  const dockerfileSteps = uniqueByName(all.filter((s) => s.stage && !s.name.startsWith("FROM ")));
  return {
    steps: all,
    total: dockerfileSteps.length,
    cached: dockerfileSteps.filter((s) => s.state === "cached").length,
    executed: dockerfileSteps.filter((s) => s.state === "done" || s.state === "error").length,
    failed: all.find((s) => s.state === "error"),
    contextBytes: [...contextSizes.values()].reduce((a, b) => a + b, 0),
  };
}

/** Steps of a stage BuildKit shows twice (once per target that needs it) count once. */
function uniqueByName(steps: BuildStep[]): BuildStep[] {
  const byName = new Map<string, BuildStep>();
  for (const step of steps) {
    const key = `${step.stage}|${step.name}`;
    const seen = byName.get(key);
    if (!seen || (seen.state === "cached" && step.state !== "cached")) byName.set(key, step);
  }
  return [...byName.values()];
}

function toBytes(value: number, unit: string): number {
  return Math.round(value * ({ B: 1, kB: 1e3, MB: 1e6, GB: 1e9 } as Record<string, number>)[unit]);
}

/** "[builder 7/9] RUN pip install …" and its last lines, for a failure message. */
export function describeFailure(step: BuildStep, lines = 15): string {
  const output = step.output.filter((line) => line.trim()).slice(-lines);
  return `step ${step.stage ? `[${step.stage}] ` : ""}${step.name}\n${output.map((line) => `  | ${line}`).join("\n")}`;
}
