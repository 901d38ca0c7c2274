/**
 * The buildx builder a bake runs on: its driver and nodes, from `docker buildx inspect` (the
 * builder BUILDX_BUILDER or `docker buildx use` selects). What it can store and run decides
 * attestations, cache export and platforms (scripts/bake/decisions.ts). The parser is pure and
 * unit-tested on the text buildx 0.13 and 0.29 print; only `inspectBuilder` runs a command.
 */
import type { Docker } from "./docker.ts";

export interface BuilderNode {
  name: string;
  /** Where buildx reaches the node's BuildKit (`tcp://10.0.0.2:1234`, `docker-container://…`, a docker context). */
  endpoint: string;
  /** `running`; `inactive` for a node buildx cannot reach (remote) or has not started (docker-container). */
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
    if (key === "Name") nodes.push({ name: value.trim(), endpoint: "", status: "", platforms: [] });
    const node = nodes.at(-1);
    if (!node) continue;
    if (key === "Endpoint") node.endpoint = value.trim();
    else if (key === "Status") node.status = value.trim();
    else if (key === "Platforms")
      node.platforms = value
        .split(",")
        .map((p) => p.trim().replace(/\*$/, ""))
        .filter(Boolean);
  }
  return driver ? { name, driver, nodes } : undefined;
}

/**
 * Pure: the nodes buildx cannot reach. A remote node (the `remote` driver: a buildkitd on another
 * machine) that is not running is down or unreachable. Other drivers start an inactive node
 * themselves (docker-container, kubernetes), so only theirs in an error state count.
 */
export function unreachableNodes(builder: Builder | undefined): BuilderNode[] {
  if (!builder) return [];
  return builder.nodes.filter((node) => node.status !== "running" && (builder.driver === "remote" || /error/i.test(node.status)));
}

/**
 * The selected builder (`BUILDX_BUILDER` in `env`, else buildx's current one); `error` is what
 * buildx said when it could not inspect it (no builder of that name, say).
 */
export async function inspectBuilder(docker: Docker, env: Record<string, string | undefined>): Promise<{ builder?: Builder; error?: string }> {
  const result = await docker.run(["buildx", "inspect"], { env });
  if (result.exitCode !== 0) return { error: (result.stderr.trim() || result.stdout.trim()).replace(/^ERROR:\s*/, "") };
  return { builder: parseBuilderInspect(result.stdout) };
}
