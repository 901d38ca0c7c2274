/** The machine and engines a run was taken on, for the report's "taken on" line. */
import os from "node:os";
import type { BenchDocker } from "./docker.ts";
import type { BuildPath } from "./figures.ts";
import type { EngineFacts, Machine } from "./report.ts";

export async function describeHost(dockers: Partial<Record<BuildPath, BenchDocker>>): Promise<Machine> {
  const engines: Partial<Record<BuildPath, EngineFacts>> = {};
  for (const [path, docker] of Object.entries(dockers) as [BuildPath, BenchDocker][]) {
    const info = await docker.run(["info", "--format", "{{.ServerVersion}}\t{{.Driver}}"]);
    const [version = "unknown", storageDriver = "unknown"] = info.stdout.trim().split("\t");
    engines[path] = { version, storageDriver, client: docker.engine.client };
  }
  return {
    cpus: typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    node: process.version,
    engines,
  };
}
