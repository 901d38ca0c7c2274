/** The machine and engine a run was taken on, for the report's "taken on" line. */
import os from "node:os";
import type { BenchDocker } from "./docker.ts";
import type { Machine } from "./report.ts";

export async function describeHost(docker: BenchDocker): Promise<Machine> {
  const info = await docker.run(["info", "--format", "{{.ServerVersion}}\t{{.Driver}}"]);
  const [version = "unknown", storageDriver = "unknown"] = info.stdout.trim().split("\t");
  return {
    cpus: typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    node: process.version,
    engine: { version, storageDriver, client: docker.engine.client },
  };
}
