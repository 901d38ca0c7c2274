import { formatSize } from "../../generator/plan.ts";

/** What one target's build produced, as the summary and --json report it. */
export interface TargetResult {
  target: string;
  variant: string;
  imageId?: string;
  size?: number;
  tags: string[];
  seconds: number;
  steps?: { total: number; cached: number; executed: number };
  budget: { bytes: number; text: string };
  overBudget: boolean;
}

/** Pure: a fixed-width table, one line per target, then one line per budget exceeded. */
export function formatSummary(results: TargetResult[], mode: string): string {
  const rows = results.map((r) => [
    r.target,
    r.imageId ? r.imageId.replace(/^sha256:/, "").slice(0, 12) : "(not loaded)",
    r.size === undefined ? "-" : `${formatSize(r.size)} / ${r.budget.text}${r.overBudget ? " OVER" : ""}`,
    `${r.seconds.toFixed(1)}s`,
    r.steps ? `${r.steps.cached}/${r.steps.total} cached` : "-",
    r.tags.join(", "),
  ]);
  const header = ["TARGET", "IMAGE ID", "SIZE / BUDGET", "TIME", "STEPS", "TAGS"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ");
  const over = results.filter((r) => r.overBudget).map((r) => `${r.target}: ${formatSize(r.size ?? 0)} is over its budget of ${r.budget.text} (variants.${r.variant}.size_budget)`);
  return [`Built with ${mode}:`, line(header), ...rows.map(line), ...over].join("\n");
}

export function toJson(results: TargetResult[], mode: string, ok: boolean): string {
  return JSON.stringify({ ok, mode, targets: results }, null, 2);
}
