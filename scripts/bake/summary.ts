import { formatSize } from "../../generator/plan.ts";
import type { ImageSizes } from "../docker/image-sizes.ts";

/** What one target's build produced, as the summary and --json report it. */
export interface TargetResult {
  target: string;
  variant: string;
  imageId?: string;
  /** In the budget's measure. */
  size?: number;
  /** Both sizes and where they are, when they were measured (--sizes, an over-budget image, or a budget the daemon's own figure does not give). */
  sizes?: ImageSizes;
  tags: string[];
  seconds: number;
  steps?: { total: number; cached: number; executed: number };
  budget: { bytes: number; text: string; measure: "unpacked" | "compressed" };
  overBudget: boolean;
}

/** Pure: a fixed-width table, one line per target, then one line per budget exceeded, and where the size is for those (or for all with `showSizes`). */
export function formatSummary(results: TargetResult[], mode: string, showSizes = false): string {
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
  const over = results
    .filter((r) => r.overBudget)
    .map((r) => `${r.target}: ${formatSize(r.size ?? 0)}${r.budget.measure === "compressed" ? " compressed" : ""} is over its budget of ${r.budget.text} (variants.${r.variant}.size_budget)`);
  const sizes = results.filter((r) => r.sizes && (showSizes || r.overBudget)).map((r) => formatSizes(r.target, r.sizes!));
  return [`Built with ${mode}:`, line(header), ...rows.map(line), ...over, ...sizes].join("\n");
}

/** Pure: where one image's size is, unpacked and compressed, as a small table. */
export function formatSizes(target: string, sizes: ImageSizes): string {
  const rows = [...sizes.parts.map((p) => [p.part, formatSize(p.unpacked), formatSize(p.compressed)]), ["total", formatSize(sizes.unpacked), formatSize(sizes.compressed)]];
  const widths = [0, 1, 2].map((i) => Math.max(["PART", "UNPACKED", "COMPRESSED"][i].length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `  ${cells[0].padEnd(widths[0])}  ${cells[1].padStart(widths[1])}  ${cells[2].padStart(widths[2])}`;
  const largest = sizes.largestPackages.length ? [`  largest in the virtualenv (unpacked): ${sizes.largestPackages.map((p) => `${p.name} ${formatSize(p.unpacked)}`).join(", ")}`] : [];
  return [
    `\n${target}: where the size is (unpacked: the layers' uncompressed bytes; compressed: gzip, as a registry stores them)`,
    line(["PART", "UNPACKED", "COMPRESSED"]),
    ...rows.map(line),
    ...largest,
  ].join("\n");
}

export function toJson(results: TargetResult[], mode: string, ok: boolean): string {
  return JSON.stringify({ ok, mode, targets: results }, null, 2);
}
