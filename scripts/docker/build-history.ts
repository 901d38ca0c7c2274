/**
 * What buildx's build history (buildx 0.20+) says about a finished build: each target's steps,
 * from the record's solve status (`docker buildx history logs --progress rawjson`), whatever
 * progress the user watched. On an older buildx, or a builder that keeps no history, there is no
 * record (undefined, or no reports) and the caller reads the plain progress it captured instead.
 */
import type { Docker } from "./docker.ts";
import { parseSolveStatus, type BuildReport } from "../bake/progress.ts";

/** buildx's `buildx.build.ref` (metadata file) or a `history ls` ref: builder/node/record. */
function splitRef(ref: string): { builder: string; record: string } | undefined {
  const parts = ref.split("/");
  return parts.length === 3 ? { builder: parts[0], record: parts[2] } : undefined;
}

/** One build record's steps; undefined when the history cannot give them. */
export async function recordReport(docker: Docker, ref: string, options: { env?: Record<string, string | undefined> } = {}): Promise<BuildReport | undefined> {
  const parts = splitRef(ref);
  if (!parts) return undefined;
  // buildx writes the record's progress where it writes live progress: to stderr.
  const result = await docker.run(["buildx", "history", "logs", "--builder", parts.builder, "--progress", "rawjson", parts.record], options);
  if (result.exitCode !== 0 || !result.stderr.trim().startsWith("{")) return undefined;
  try {
    return parseSolveStatus(result.stderr);
  } catch {
    return undefined;
  }
}

/** A record as `docker buildx history ls --format json` lists it (one JSON object per line). */
interface ListedRecord {
  ref: string;
  status: string;
  created_at: string;
}

/** Pure: the refs of the records that failed and were created at or after `since`. */
export function failedSince(listing: string, since: Date): string[] {
  const records = listing
    .split("\n")
    .filter((line) => line.trim().startsWith("{"))
    .map((line) => JSON.parse(line) as ListedRecord);
  return records.filter((r) => r.status === "Error" && Date.parse(r.created_at) >= since.getTime()).map((r) => r.ref);
}

/**
 * The failed builds of a bake that started at `since`, each with its steps: a failed bake writes
 * no metadata file, so its records are found by time on its builder (`builder`, the default
 * when undefined).
 */
export async function failedRecordReports(docker: Docker, since: Date, builder: string | undefined, options: { env?: Record<string, string | undefined> } = {}): Promise<BuildReport[]> {
  const listed = await docker.run(["buildx", "history", "ls", "--format", "json", ...(builder ? ["--builder", builder] : [])], options);
  if (listed.exitCode !== 0) return [];
  const reports = await Promise.all(failedSince(listed.stdout, since).map((ref) => recordReport(docker, ref, options)));
  return reports.filter((r): r is BuildReport => r !== undefined);
}
