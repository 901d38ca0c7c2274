/**
 * Reads what BuildKit reports about a build: which steps ran, which came from the cache, which
 * failed and what they printed. Two sources, one result: the plain progress text
 * (`--progress=plain`, the same from docker build and buildx) and the solve status that buildx
 * keeps in its build history (`docker buildx history logs --progress rawjson REF`, buildx 0.20+).
 * Pure: text in, facts out. Tests decide cache reuse from this, never from timing.
 *
 * A bake of several targets prefixes each plain step with its target ("[gpu builder 3/5]"); a
 * step that several targets share is solved once and shown once, under one of their names. The
 * history has one record per target, with every step that target needed.
 */
export interface BuildStep {
  /** BuildKit's vertex number in this build ("#12"). */
  id: number;
  /** The bake target named in the step's prefix; "" for a single build. */
  target: string;
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

/** `targets`: the names a multi-target bake may put before a stage name. */
export function parseProgress(text: string, targets: readonly string[] = []): BuildReport {
  const steps = new Map<number, BuildStep>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^#(\d+) (.*)$/.exec(line);
    if (!match) continue;
    const id = Number(match[1]);
    const rest = match[2];
    const step = steps.get(id);
    if (!step) {
      // Only "[…]" titles: a line such as "#30 exporting to image" is not a Dockerfile step.
      const started = rest.startsWith("[") ? stepNamed(id, rest, targets) : undefined;
      if (started) steps.set(id, started);
      continue;
    }
    if (rest === "CACHED") step.state = "cached";
    // CANCELED: BuildKit had started the vertex and stopped it (moby/buildkit#4330); in a build that
    // succeeds its work may still be what another target's twin vertex shows as CACHED (seen in a
    // release bake: gpu's front-end step CACHED, cpu's CANCELED, no other). Counted as run, so that
    // every step is either cached or run and nothing run is counted as cached.
    else if (rest === "CANCELED") step.state = "done";
    else if (/^DONE\b/.test(rest)) step.state = step.state === "cached" ? "cached" : "done";
    else if (/^ERROR\b/.test(rest)) {
      step.state = "error";
      step.output.push(rest);
    } else if (/^sha256:/.test(rest)) continue;
    else step.output.push(rest.replace(/^\d+\.\d+ /, ""));
  }
  return summarize([...steps.values()]);
}

/** One vertex of BuildKit's solve status (moby/buildkit client.Vertex, as buildx's rawjson writes it). */
interface RawVertex {
  digest: string;
  name?: string;
  cached?: boolean;
  completed?: string;
  error?: string;
}

/**
 * `docker buildx history logs --progress rawjson REF`: BuildKit's solve status as JSON, one or
 * more objects of vertexes (repeated as their state changes), statuses (transfers) and logs
 * (base64). One record is one target's build, so no target prefixes.
 */
export function parseSolveStatus(text: string): BuildReport {
  const steps = new Map<string, BuildStep>();
  const errors = new Map<string, string>();
  const contextBytes = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const status = JSON.parse(line) as { vertexes?: RawVertex[]; statuses?: { vertex: string; id: string; current?: number }[]; logs?: { vertex: string; data: string }[] };
    for (const vertex of status.vertexes ?? []) {
      let step = steps.get(vertex.digest);
      if (!step) {
        step = stepNamed(steps.size + 1, vertex.name ?? "", []) ?? { id: steps.size + 1, target: "", stage: "", name: vertex.name ?? "", state: "running", output: [] };
        steps.set(vertex.digest, step);
      }
      if (vertex.error) {
        step.state = "error";
        errors.set(vertex.digest, `ERROR: ${vertex.error}`);
      } else if (vertex.cached) step.state = "cached";
      else if (vertex.completed && step.state === "running") step.state = "done";
    }
    for (const log of status.logs ?? []) {
      const step = steps.get(log.vertex);
      if (step)
        step.output.push(
          ...Buffer.from(log.data, "base64")
            .toString("utf8")
            .split(/\r?\n/)
            .filter((l, i, all) => l || i < all.length - 1),
        );
    }
    for (const transfer of status.statuses ?? []) if (transfer.id === "transferring context:") contextBytes.set(transfer.vertex, transfer.current ?? 0);
  }
  // The error last, after what the step printed, as plain progress shows it.
  for (const [digest, error] of errors) steps.get(digest)!.output.push(error);
  const report = summarize([...steps.values()]);
  return { ...report, contextBytes: [...contextBytes.values()].reduce((sum, bytes) => sum + bytes, 0) };
}

// "[builder 7/9] RUN …", "[2/5] RUN …" (a stage without a name) or "[internal] load …", each
// maybe with a target first ("[cpu builder 7/9]", "[cpu internal]"); "[cpu] exporting…" is not a step.
const STEP = /^(\[(?:(?:([^\]]+?) )?(\d+\/\d+)|(?:([^\] ]+) )?internal)\] ?(.*)|.*)$/;

/** A step from the line that names it ("[cpu builder 7/9] RUN …"); undefined for an untitled vertex. */
function stepNamed(id: number, title: string, targets: readonly string[]): BuildStep | undefined {
  const header = STEP.exec(title);
  if (header?.[5] === undefined) return title && !title.startsWith("[") ? { id, target: "", stage: "", name: title, state: "running", output: [] } : undefined;
  const internal = header[3] === undefined;
  let target = internal ? (header[4] ?? "") : "";
  let stage = internal ? "" : [header[2], header[3]].filter(Boolean).join(" ");
  const first = stage.split(" ")[0];
  if (!internal && stage.includes(" ") && targets.includes(first)) {
    target = first;
    stage = stage.slice(first.length + 1);
  }
  return { id, target, stage, name: internal ? `[internal] ${header[5]}` : header[5], state: "running", output: [] };
}

/** A step of the Dockerfile, as the counts take it: not internal, and not FROM (a reference, not work). */
export function isDockerfileStep(step: BuildStep): boolean {
  return step.stage !== "" && !step.name.startsWith("FROM ");
}

/** The Dockerfile steps a build ran rather than took from its cache (done, failed or cut short). */
export function stepsRan(report: BuildReport): BuildStep[] {
  return report.steps.filter((step) => isDockerfileStep(step) && step.state !== "cached");
}

function summarize(all: BuildStep[]): BuildReport {
  const dockerfileSteps = uniqueByName(all.filter(isDockerfileStep));
  return {
    steps: all,
    total: dockerfileSteps.length,
    cached: dockerfileSteps.filter((s) => s.state === "cached").length,
    executed: dockerfileSteps.filter((s) => s.state === "done" || s.state === "error").length,
    failed: all.find((s) => s.state === "error"),
    contextBytes: all.filter((s) => s.name === "[internal] load build context").reduce((sum, s) => sum + contextBytesOf(s), 0),
  };
}

/**
 * One target's share of a multi-target bake: its own steps, and the shared steps of each stage it
 * has steps in that it did not show under its own name (shown once, under another target's).
 */
export function reportOf(report: BuildReport, target: string): BuildReport {
  const stageOf = (step: BuildStep) => step.stage.split(" ")[0];
  const own = report.steps.filter((s) => s.target === target);
  const ownStages = new Set(own.filter((s) => s.stage).map(stageOf));
  // By position ("system 2/2"), not by text: the same step differs between targets in its arguments.
  const ownPositions = new Set(own.map((s) => s.stage));
  const shared = report.steps.filter((s) => s.target !== target && s.stage && ownStages.has(stageOf(s)) && !ownPositions.has(s.stage));
  const sharedOnce = [...new Map(shared.map((s) => [s.stage, s])).values()];
  return summarize([...own, ...sharedOnce].sort((a, b) => a.id - b.id));
}

/** The last "transferring context: 1.23MB" figure a context step printed. */
function contextBytesOf(step: BuildStep): number {
  let bytes = 0;
  for (const line of step.output) {
    const transfer = /transferring context: ([\d.]+)([kMG]?B)/.exec(line);
    if (transfer) bytes = toBytes(Number(transfer[1]), transfer[2]);
  }
  return bytes;
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
