/**
 * A builder of two machines, as teams that outgrow one machine use: two standalone BuildKit
 * daemons (buildkitd from the Go module, scripts/engine/buildkit-image.ts), each on a test host of
 * its own, joined into one buildx builder with the `remote` driver, one node per platform:
 * linux/amd64 on the first, linux/arm64 (under QEMU emulation) on the second.
 *
 * A test host is a network namespace with an address of its own on a small LAN: a bridge in the
 * engine's namespace (where buildx runs and the registry listens), each host joined to it by a
 * veth pair. buildx reaches each buildkitd at tcp://<address>:1234, as it would a machine of a
 * cluster. Image references name the registry as 127.0.0.1:5000 everywhere (the fixture's
 * bases, the tags pushed), so each host forwards its own 127.0.0.1:5000 to the registry over the
 * LAN. Builds on these hosts have no other network, as in the engines' namespaces.
 *
 * The daemons run detached with pidfiles under the engine's state directory, and stop with the
 * engine (`npm run engine -- stop`). See docs/building.md, "Builders beyond one machine".
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { Docker } from "../docker/docker.ts";
import { netnsPath, type Engine } from "../docker/engine.ts";
import { ensureBuildkitBinaries, writeBuildkitdConfig } from "./buildkit-image.ts";
import { EngineEnvironmentError, livePid, mountsUnder, pidAlive, sleep, tailFile, terminate, withStateLock } from "./host.ts";
import { engineStateRoot } from "./private-engine.ts";
import { REGISTRY_PORT } from "./registry.ts";

/** The remote builder the tests create on an engine. */
export const NODES_BUILDER = "iopaint-nodes";
/** One node per platform, in this order. */
export const NODE_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;
const BUILDKITD_PORT = 1234;
/** The LAN inside the engine's namespace: the bridge is .1, the hosts .2 and up. */
const LAN = "10.213.0";
const BRIDGE = "iopaint-lan";

export interface BuildkitNode {
  /** buildx's name for the node (`docker buildx inspect`): iopaint-nodes-amd64, iopaint-nodes-arm64. */
  name: string;
  platform: string;
  /** The test host: a network namespace of its own. */
  netns: string;
  address: string;
  /** What buildx dials: tcp://<address>:1234. */
  endpoint: string;
  /** Its state: buildkitd's root, config, log and the pidfiles. */
  dir: string;
}

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

function nodesDir(engineName: string): string {
  return path.join(engineStateRoot(), engineName, "nodes");
}

/** Pure: the nodes of `engine`'s builder, where they live and how buildx reaches them. */
export function buildkitNodes(engine: Pick<Engine, "name" | "netns">): BuildkitNode[] {
  return NODE_PLATFORMS.map((platform, index) => {
    const arch = platform.split("/")[1];
    const address = `${LAN}.${index + 2}`;
    return {
      name: `${NODES_BUILDER}-${arch}`,
      platform,
      netns: `${engine.netns}-${arch}`,
      address,
      endpoint: `tcp://${address}:${BUILDKITD_PORT}`,
      dir: path.join(nodesDir(engine.name), arch),
    };
  });
}

const inNetns = (netns: string, argv: string[]) => execa("nsenter", [`--net=${netnsPath(netns)}`, ...argv], { reject: false, all: true });

async function must(netns: string, argv: string[]): Promise<void> {
  const result = await inNetns(netns, argv);
  if (result.exitCode !== 0) throw new EngineEnvironmentError(`${argv.join(" ")} in namespace ${netns} failed: ${String(result.all).trim()}`, "run as root, on a kernel with veth and bridge support");
}

/** `argv` in namespace `netns`, detached, its output in `logFile` and its pid in `pidfile`. */
function startDetached(netns: string, argv: string[], logFile: string, pidfile: string): void {
  const out = fs.openSync(logFile, "a");
  const child = spawn("nsenter", [`--net=${netnsPath(netns)}`, ...argv], { detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(pidfile, `${child.pid}\n`);
}

const FORWARDER = new URL("./forward.mjs", import.meta.url).pathname;

/**
 * The LAN's bridge in the engine's namespace, with a forwarder from the bridge's address to the
 * registry (which listens on 127.0.0.1 there).
 */
async function ensureLan(engine: Engine): Promise<void> {
  const bridge = await inNetns(engine.netns, ["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]);
  if (!String(bridge.stdout).includes(`${LAN}.1/24`)) {
    await inNetns(engine.netns, ["ip", "link", "delete", BRIDGE]);
    await must(engine.netns, ["ip", "link", "add", BRIDGE, "type", "bridge"]);
    await must(engine.netns, ["ip", "addr", "add", `${LAN}.1/24`, "dev", BRIDGE]);
    await must(engine.netns, ["ip", "link", "set", BRIDGE, "up"]);
  }
  const dir = nodesDir(engine.name);
  const pidfile = path.join(dir, "registry-forward.pid");
  const listen = `${LAN}.1:${REGISTRY_PORT}`;
  if (!livePid(pidfile, listen)) startDetached(engine.netns, [process.execPath, FORWARDER, listen, `127.0.0.1:${REGISTRY_PORT}`], path.join(dir, "registry-forward.log"), pidfile);
}

/**
 * The node's host: its namespace, joined to the LAN by a veth pair (the host's end is its eth0),
 * made again from nothing when its address is not there (a new engine namespace, say).
 */
async function ensureHost(engine: Engine, node: BuildkitNode, index: number): Promise<void> {
  if (fs.existsSync(netnsPath(node.netns))) {
    const eth0 = await inNetns(node.netns, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    if (String(eth0.stdout).includes(`${node.address}/24`)) return;
    await stopNode(node);
    await execa("ip", ["netns", "delete", node.netns], { reject: false });
  }
  await execa("ip", ["netns", "add", node.netns]);
  await must(node.netns, ["ip", "link", "set", "lo", "up"]);
  const lanEnd = `${BRIDGE}-${index}`;
  await inNetns(engine.netns, ["ip", "link", "delete", lanEnd]);
  await must(engine.netns, ["ip", "link", "add", lanEnd, "type", "veth", "peer", "name", "eth0", "netns", node.netns]);
  await must(engine.netns, ["ip", "link", "set", lanEnd, "master", BRIDGE, "up"]);
  await must(node.netns, ["ip", "addr", "add", `${node.address}/24`, "dev", "eth0"]);
  await must(node.netns, ["ip", "link", "set", "eth0", "up"]);
}

const pidfiles = (node: BuildkitNode) => ({ buildkitd: path.join(node.dir, "buildkitd.pid"), forward: path.join(node.dir, "registry-forward.pid") });

/** Whether the node's buildkitd answers (buildctl, from the engine's namespace, as buildx dials it). */
async function answers(engine: Engine, node: BuildkitNode, bin: string): Promise<boolean> {
  const result = await inNetns(engine.netns, [path.join(bin, "buildctl"), "--addr", node.endpoint, "--timeout", "2", "debug", "workers"]);
  return result.exitCode === 0;
}

/** Starts the node's buildkitd (and its forwarder to the registry) unless it runs. */
export async function startNode(engine: Engine, node: BuildkitNode, log: (line: string) => void = defaultLog): Promise<void> {
  const bin = await ensureBuildkitBinaries(log);
  const files = pidfiles(node);
  fs.mkdirSync(node.dir, { recursive: true });
  const registry = `127.0.0.1:${REGISTRY_PORT}`;
  if (!livePid(files.forward, registry)) startDetached(node.netns, [process.execPath, FORWARDER, registry, `${LAN}.1:${REGISTRY_PORT}`], path.join(node.dir, "registry-forward.log"), files.forward);
  if (livePid(files.buildkitd, node.endpoint) && (await answers(engine, node, bin))) return;
  const config = writeBuildkitdConfig(path.join(node.dir, "buildkitd.toml"));
  const logFile = path.join(node.dir, "buildkitd.log");
  log(`[nodes] starting buildkitd for ${node.platform} on ${node.endpoint} (namespace ${node.netns})`);
  startDetached(
    node.netns,
    [
      path.join(bin, "buildkitd"),
      "--addr",
      node.endpoint,
      "--root",
      path.join(node.dir, "root"),
      "--config",
      config,
      // The host's own network (its namespace): no CNI here, and builds need none.
      "--oci-worker-net",
      "host",
      "--oci-worker-binary",
      "/usr/sbin/runc",
      "--containerd-worker",
      "false",
    ],
    logFile,
    files.buildkitd,
  );
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await answers(engine, node, bin)) return;
    if (!livePid(files.buildkitd, node.endpoint)) break;
    await sleep(300);
  }
  throw new EngineEnvironmentError(`buildkitd for ${node.platform} did not answer on ${node.endpoint}`, `read ${logFile}`, tailFile(logFile, 20));
}

/**
 * Stops the node's buildkitd with SIGTERM; with `kill`, as a machine that dies: every process on
 * the test host (buildkitd, the build step it was running, the forwarder) gets SIGKILL at once.
 * Either way, no mount of its build steps is left behind.
 */
export async function stopNode(node: BuildkitNode, how: { kill?: boolean } = {}): Promise<void> {
  if (how.kill && fs.existsSync(netnsPath(node.netns))) {
    const { stdout } = await execa("ip", ["netns", "pids", node.netns], { reject: false });
    const pids = String(stdout).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const pid of pids) while (pidAlive(pid)) await sleep(50);
  } else {
    const pid = livePid(pidfiles(node).buildkitd, node.endpoint);
    if (pid) await terminate(pid, 10_000);
  }
  for (const mount of mountsUnder(node.dir)) await execa("umount", ["--lazy", mount], { reject: false });
}

/**
 * The two nodes running and the remote builder NODES_BUILDER on `engine` naming them, created
 * (or made again, when its endpoints differ) with one node per platform. Returns the nodes.
 */
export async function ensureBuildkitNodes(engine: Engine, log: (line: string) => void = defaultLog): Promise<BuildkitNode[]> {
  const nodes = buildkitNodes(engine);
  return withStateLock(nodesDir(engine.name), "nodes", async () => {
    await ensureLan(engine);
    for (const [index, node] of nodes.entries()) {
      await ensureHost(engine, node, index);
      await startNode(engine, node, log);
    }
    const docker = new Docker(engine);
    const inspected = await docker.run(["buildx", "inspect", NODES_BUILDER], { inEngineNetwork: true });
    if (inspected.exitCode === 0 && nodes.every((node) => inspected.stdout.includes(node.endpoint))) return nodes;
    if (inspected.exitCode === 0) await docker.run(["buildx", "rm", "--force", NODES_BUILDER]);
    log(`[nodes] creating the remote builder ${NODES_BUILDER}: ${nodes.map((node) => `${node.platform} on ${node.endpoint}`).join(", ")}`);
    for (const [index, node] of nodes.entries()) {
      await docker.check(["buildx", "create", ...(index > 0 ? ["--append"] : []), "--name", NODES_BUILDER, "--node", node.name, "--driver", "remote", "--platform", node.platform, node.endpoint]);
    }
    return nodes;
  });
}

/** Stops every node of the engine's builder and removes their hosts (with the engine). */
export async function stopBuildkitNodes(engine: Pick<Engine, "name" | "netns">): Promise<void> {
  for (const node of buildkitNodes(engine)) {
    await stopNode(node);
    const forward = livePid(pidfiles(node).forward, FORWARDER);
    if (forward) await terminate(forward, 5_000);
    if (fs.existsSync(netnsPath(node.netns))) await execa("ip", ["netns", "delete", node.netns], { reject: false });
  }
  const forward = livePid(path.join(nodesDir(engine.name), "registry-forward.pid"), FORWARDER);
  if (forward) await terminate(forward, 5_000);
}
