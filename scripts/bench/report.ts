/** Pure: the rows and the run's circumstances as one Markdown table and one JSON document. */
import { BUILD_PATHS, type BuildPath, type Figures, type SubjectKind } from "./figures.ts";
import { formatBytes, formatPercent } from "./format.ts";
import type { Row } from "./goals.ts";

export interface EngineFacts {
  version: string;
  storageDriver: string;
  client: string;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  /** The engine each measured build path ran on. */
  engines: Partial<Record<BuildPath, EngineFacts>>;
}

export interface Report {
  schema: "iopaint-bench/1";
  /** ISO 8601, when the run started. */
  date: string;
  command: string;
  quick: boolean;
  repeats: number;
  durationSeconds: number;
  machine: Machine;
  rows: Row[];
  /** Every goal of ours met. */
  allMet: boolean;
  figures: Figures;
}

export function makeReport(parts: Omit<Report, "schema" | "allMet">): Report {
  return { schema: "iopaint-bench/1", ...parts, allMet: parts.rows.every((r) => r.met) };
}

export function describeEngine(path: BuildPath, engine: EngineFacts): string {
  return `${path}: Docker Engine ${engine.version} (${engine.storageDriver})${path === "buildx" ? " with `docker buildx bake`" : ", one `docker build` per target"}`;
}

export function describeMachine(m: Machine): string {
  const engines = BUILD_PATHS.filter((path) => m.engines[path]).map((path) => describeEngine(path, m.engines[path]!));
  return [`${m.cpus} CPUs (${m.cpuModel}), ${formatBytes(m.memoryBytes)} RAM, Linux ${m.kernel}, node ${m.node}`, ...engines].join("; ");
}

const SUBJECTS: Record<SubjectKind, string> = {
  fixture: "the bundled fixture app",
  real: "IOPaint 1.6.0's real packages from PyPI (torch 2.1.2 and its CUDA libraries, diffusers, rembg…; cpu and gpu locked)",
};

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** A row's value as its path's cell: the figure, then its ratio to what it is compared with. */
function valueText(row: Row): string {
  return row.baseline ? `${row.ours.text}; ${row.ratio === null ? "—" : formatPercent(row.ratio)} of ${row.baseline.text}` : row.ours.text;
}

function metText(row: Row): string {
  if (row.met) return "yes";
  return row.users ? `**no** (users' bar: ${row.users.met ? "met" : "not met"})` : "**no**";
}

/**
 * One table, a column per build path measured, so that a figure's ratios on the two paths sit
 * side by side. A figure measured on one path only leaves the other's cell empty, as does one that
 * builds nothing (the compiler), which stands in the first.
 */
export function markdownTable(rows: Row[]): string {
  const paths = BUILD_PATHS.filter((path) => rows.some((row) => row.path === path));
  const ids = [...new Set(rows.map((row) => row.id))];
  const lines = [`| figure | ${paths.join(" | ")} | goal | met? |`, `| --- | ${paths.map(() => "---").join(" | ")} | --- | --- |`];
  for (const id of ids) {
    const group = rows.filter((row) => row.id === id);
    const cells = paths.map((path, i) => {
      const row = group.find((r) => r.path === path || (r.path === null && i === 0));
      return row ? valueText(row) : "—";
    });
    const goals = [...new Set(group.map((row) => (row.users ? `${row.goal.text} (users: ${row.users.text})` : row.goal.text)))];
    const goal = goals.length === 1 ? goals[0] : group.map((row) => `${row.path}: ${row.goal.text}`).join("; ");
    const met = group.length === 1 ? metText(group[0]) : group.map((row) => `${row.path} ${metText(row)}`).join(", ");
    lines.push(`| ${[group[0].figure, ...cells, goal, met].map(cell).join(" | ")} |`);
  }
  return lines.join("\n");
}

export function markdownReport(report: Report): string {
  const notMet = report.rows.filter((r) => !r.met);
  return [
    markdownTable(report.rows),
    "",
    `Taken ${report.date.slice(0, 10)} with \`${report.command}\` on ${SUBJECTS[report.figures.subject.kind]}${report.quick ? " (a quick smoke: no repeats, small padding; not for quoting)" : ""}; ${describeMachine(report.machine)}; ${Math.round(report.durationSeconds)} s in all.`,
    notMet.length ? `Not met: ${notMet.map((r) => `${r.figure}${r.path ? ` (${r.path})` : ""}`).join("; ")}.` : "Every goal met.",
    cacheText(report.figures),
    "",
  ].join("\n");
}

/** What the run left in BuildKit's cache, per engine (images it tagged are removed; the cache is left for the next run or `docker builder prune`). */
function cacheText(f: Figures): string {
  const parts = Object.entries(f.cacheBytes).map(([engine, bytes]) => `${bytes! >= 0 ? "+" : "−"}${formatBytes(Math.abs(bytes!))} on the ${engine} engine`);
  return parts.length ? `BuildKit cache after the run: ${parts.join(", ")}.` : "";
}

export function jsonReport(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
