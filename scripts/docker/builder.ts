/**
 * The buildx builder a bake runs on: its driver and nodes, from `docker buildx inspect` (the
 * builder BUILDX_BUILDER or `docker buildx use` selects). What it can store and run decides
 * attestations, cache export and platforms (scripts/bake/decisions.ts). The parser is pure and
 * unit-tested on the text buildx 0.13 and 0.29 print; only `inspectBuilder` runs a command.
 */
import type { Docker } from "./docker.ts";

export interface BuilderNode {
  name: string;
  status: string;
  /** The platforms the node runs, natively or under emulation (`linux/amd64`, `linux/arm64`, …). */
  platforms: string[];
}

export interface Builder {
  name: string;
  /** `docker` (the daemon's own BuildKit), `docker-container`, `kubernetes`, `remote`, `cloud`. */
  driver: string;
  nodes: BuilderNode[];
}

/** Pure: `docker buildx inspect`'s text to a Builder; undefined when it names no driver. */
export function parseBuilderInspect(text: string): Builder | undefined {
  const field = (line: string) => /^([A-Za-z][A-Za-z ]*?):\s+(.*)$/.exec(line);
  let name = "";
  let driver = "";
  const nodes: BuilderNode[] = [];
  let inNodes = false;
  for (const line of text.split("\n")) {
    if (/^Nodes:\s*$/.test(line)) {
      inNodes = true;
      continue;
    }
    const match = field(line);
    if (!match) continue;
    const [, key, value] = match;
    if (!inNodes) {
      if (key === "Name") name = value.trim();
      else if (key === "Driver") driver = value.trim();
      continue;
    }
    if (key === "Name") nodes.push({ name: value.trim(), status: "", platforms: [] });
    const node = nodes.at(-1);
    if (!node) continue;
    if (key === "Status") node.status = value.trim();
    else if (key === "Platforms")
      node.platforms = value
        .split(",")
        .map((p) => p.trim().replace(/\*$/, ""))
        .filter(Boolean);
  }
  return driver ? { name, driver, nodes } : undefined;
}

/** The selected builder, or undefined when buildx cannot say (its error is then the build's). */
export async function inspectBuilder(docker: Docker, env: Record<string, string | undefined>): Promise<Builder | undefined> {
  const result = await docker.run(["buildx", "inspect"], { env });
  return result.exitCode === 0 ? parseBuilderInspect(result.stdout) : undefined;
}
