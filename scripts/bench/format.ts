/** Pure: numbers as the bench prints them, and the median it reports. */
import { formatSize } from "../../generator/plan.ts";

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function formatSeconds(seconds: number): string {
  if (seconds >= 120) {
    const minutes = Math.floor(seconds / 60);
    return `${minutes} min ${String(Math.round(seconds - minutes * 60)).padStart(2, "0")} s`;
  }
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

export function formatMs(ms: number): string {
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

/** Decimal units (1 kB = 1000 B), as `docker images` shows sizes, with a space: "84.1 MB". */
export const formatBytes = (bytes: number): string => formatSize(bytes, " ");

export function formatPercent(ratio: number): string {
  const percent = ratio * 100;
  return `${percent.toFixed(percent < 1 ? 2 : percent < 10 ? 1 : 0)}%`;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
