/** Pure: the rows and the run's circumstances as one Markdown table and one JSON document. */
import type { Figures } from "./figures.ts";
import { formatBytes, formatPercent } from "./format.ts";
import type { Row } from "./goals.ts";

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  engine: { version: string; storageDriver: string; client: string };
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

export function describeMachine(m: Machine): string {
  return `${m.cpus} CPUs (${m.cpuModel}), ${formatBytes(m.memoryBytes)} RAM, Linux ${m.kernel}, Docker Engine ${m.engine.version} (${m.engine.storageDriver}), node ${m.node}`;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function metText(row: Row): string {
  if (row.met) return "yes";
  return row.users ? `**no** (users' bar: ${row.users.met ? "met" : "not met"})` : "**no**";
}

export function markdownTable(rows: Row[]): string {
  const lines = ["| figure | ours | baseline | ratio | goal | met? |", "| --- | --- | --- | --- | --- | --- |"];
  for (const row of rows) {
    const goal = row.users ? `${row.goal.text} (users: ${row.users.text})` : row.goal.text;
    lines.push(
      `| ${[row.figure, row.ours.text, row.baseline?.text ?? "—", row.ratio === null ? "—" : formatPercent(row.ratio), goal, metText(row)].map(cell).join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

export function markdownReport(report: Report): string {
  const notMet = report.rows.filter((r) => !r.met);
  return [
    markdownTable(report.rows),
    "",
    `Taken ${report.date.slice(0, 10)} with \`${report.command}\`${report.quick ? " (a quick smoke: no repeats, small padding; not for quoting)" : ""} on ${describeMachine(report.machine)}; ${Math.round(report.durationSeconds)} s in all.`,
    notMet.length ? `Not met: ${notMet.map((r) => r.figure).join("; ")}.` : "Every goal met.",
    "",
  ].join("\n");
}

export function jsonReport(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
