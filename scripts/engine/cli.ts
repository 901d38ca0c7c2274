/**
 * The private test engines from the command line:
 *   npm run engine -- start|stop|status|env|base-images|container-builder|nodes [ENGINE] [--release]
 * Exit codes (generator/exit-codes.ts): 0 ok, 1 engine not running (status), 2 usage,
 * 3 environment problem (what failed and how to fix it), 70 internal error.
 */
import { fail } from "../../generator/errors.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { shellQuoted } from "../../generator/quote.ts";
import { runCli } from "../../generator/run-cli.ts";
import { ensureStandInBaseImages, publishMultiPlatformPython, PYTHON_STANDIN } from "./base-images.ts";
import { BUILDKIT_VERSION, CONTAINER_BUILDER, ensureContainerBuilder } from "./buildkit-image.ts";
import { ensureBuildkitNodes, NODES_BUILDER, stopBuildkitNodes } from "./buildkit-nodes.ts";
import { ensureArm64Emulation } from "./emulation.ts";
import { DEFAULT_ENGINE, ENGINE_NAMES, engineNetns, engineRegistry, engineStateRoot, engineStatus, ensureEngine, isEngineName, stopEngine, type EngineName } from "./private-engine.ts";

const USAGE = `usage: npm run engine -- <command> [${ENGINE_NAMES.join("|")}]

  start        start the engine (or reuse the running one)
  stop         stop it (and its BuildKit nodes) and remove its network namespace (images stay on disk)
  status       say whether it runs (exit 0) or not (exit 1)
  env          start it if needed and print export lines:  eval "$(npm run -s engine -- env)"
  base-images  start it if needed and make the stand-in base images (python, cuda, node);
               --release (buildx engines) also makes the linux/arm64 python stand-in under QEMU
               emulation and publishes python as one amd64 + arm64 index in the engine's
               registry (127.0.0.1:5000/${PYTHON_STANDIN}), for the release path
  container-builder  (buildx engines) build BuildKit ${BUILDKIT_VERSION} from its Go module into an image
               and create the docker-container builder ${CONTAINER_BUILDER} on the engine, as
               docker/setup-buildx-action does in CI: BUILDX_BUILDER=${CONTAINER_BUILDER} selects it
  nodes        (buildx engines) start two BuildKit daemons on test hosts of their own (network
               namespaces on a LAN in the engine's) and join them into the remote builder
               ${NODES_BUILDER}: linux/amd64 on one, linux/arm64 under QEMU on the other; buildx
               reaches them from the engine's namespace (nsenter --net=/var/run/netns/iopaint-<engine>)

Engines (default ${DEFAULT_ENGINE}):
  newest          Docker 28.5 from Debian forky, containerd image store, buildx 0.29 and
                  Compose 2.40 as CLI plugins: docker buildx bake, docker compose
  newest-classic  the same on the classic image store (overlay2), Docker 28's default on Linux
  trixie          Docker 26.1 from Debian trixie, containerd image store, buildx 0.13.1 (the
                  oldest buildx supported) and Compose 2.26
  legacy          Debian bookworm's Docker 20.10, BuildKit without buildx: the runner's fallback path

The buildx engines have a registry (Debian's docker-registry) on 127.0.0.1:5000 in their namespace.

Each runs in a network namespace of its own (iopaint-<engine>); published ports listen only
inside it, for example
  nsenter --net=/var/run/netns/iopaint-newest curl http://127.0.0.1:8080/
State lives in $IOPAINT_ENGINE_DIR/<engine> (default ${engineStateRoot()}/<engine>); needs root.`;

async function main(argv: string[]): Promise<number> {
  const release = argv.includes("--release");
  const [command, which = DEFAULT_ENGINE, ...rest] = argv.filter((arg) => arg !== "--release");
  if (command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.ok;
  }
  if (!command) fail({ kind: "usage", message: "no command given", hint: USAGE });
  if (rest.length > 0) fail({ kind: "usage", message: `${command} takes one engine name at most`, hint: USAGE });
  if (!isEngineName(which)) fail({ kind: "usage", message: `unknown engine "${which}": expected ${ENGINE_NAMES.join(", ")}`, hint: USAGE });
  const name: EngineName = which;
  if (release && (command !== "base-images" || name === "legacy"))
    fail({ kind: "usage", message: "--release goes with base-images on a buildx engine (it needs buildx and the registry)", hint: USAGE });
  switch (command) {
    case "start": {
      const engine = await ensureEngine(name);
      process.stdout.write(`engine ${name} running: ${engine.describe}; DOCKER_HOST=${engine.dockerHost}, network namespace ${engine.netns}\n`);
      return ExitCode.ok;
    }
    case "stop":
      await stopBuildkitNodes({ name, netns: engineNetns(name) });
      await stopEngine(name);
      process.stdout.write(`engine ${name} stopped\n`);
      return ExitCode.ok;
    case "status": {
      const s = await engineStatus(name);
      if (s.running) {
        process.stdout.write(
          `${name} running: pid ${s.pid}, Docker ${s.serverVersion}, storage ${s.storageDriver ?? "?"}, DOCKER_HOST=${s.dockerHost}, network namespace ${s.netns}, log ${s.daemonLog}\n`,
        );
        return ExitCode.ok;
      }
      process.stdout.write(`${name} not running (state in ${s.stateDir}); start it with: npm run engine -- start ${name}\n`);
      return ExitCode.failed;
    }
    case "env": {
      const engine = await ensureEngine(name, { log: () => {} });
      process.stdout.write(`# private engine ${name}: ${engine.describe}\n`);
      for (const [key, value] of Object.entries({ ...engine.env, DOCKER_CLI: engine.client })) {
        process.stdout.write(`export ${key}=${shellQuoted(value)}\n`);
      }
      return ExitCode.ok;
    }
    case "container-builder": {
      if (name === "legacy") fail({ kind: "usage", message: "container-builder needs a buildx engine (newest, newest-classic, trixie)", hint: USAGE });
      const engine = await ensureEngine(name);
      await ensureStandInBaseImages(engine);
      process.stdout.write(`${await ensureContainerBuilder(engine)}\n`);
      return ExitCode.ok;
    }
    case "nodes": {
      if (name === "legacy") fail({ kind: "usage", message: "nodes needs a buildx engine (newest, newest-classic, trixie)", hint: USAGE });
      const emulation = await ensureArm64Emulation((line) => process.stderr.write(`${line}\n`));
      if (!emulation.ok) fail({ kind: "environment", message: `no linux/arm64 node: ${emulation.reason}`, hint: "run it on a host whose kernel has binfmt_misc" });
      const engine = await ensureEngine(name);
      for (const node of await ensureBuildkitNodes(engine)) process.stdout.write(`${NODES_BUILDER}\t${node.name}\t${node.platform}\t${node.endpoint}\n`);
      return ExitCode.ok;
    }
    case "base-images": {
      const engine = await ensureEngine(name);
      const images = await ensureStandInBaseImages(engine);
      for (const image of Object.values(images)) process.stdout.write(`${image.ref}\t${image.id}\n`);
      if (!release) return ExitCode.ok;
      const emulation = await ensureArm64Emulation((line) => process.stderr.write(`${line}\n`));
      if (!emulation.ok)
        fail({ kind: "environment", message: `no linux/arm64 stand-in: ${emulation.reason}`, hint: "run the release path on a host whose kernel has binfmt_misc, or on an arm64 host" });
      const published = await publishMultiPlatformPython(engine, (await engineRegistry(engine)).address);
      process.stdout.write(`${published.ref}\t${published.platforms.join(", ")}\n`);
      return ExitCode.ok;
    }
    default:
      fail({ kind: "usage", message: `unknown command "${command}"`, hint: USAGE });
  }
}

await runCli(main, process.argv.slice(2));
