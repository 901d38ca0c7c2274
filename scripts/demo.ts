/**
 * npm run demo: the main job on the bundled IOPaint-shaped example app (test/fixtures/app).
 * Compiles its config, builds its cpu and gpu images with `npm run bake` (docker buildx bake
 * where buildx is installed), runs the cpu image and says where the UI answers. It uses the
 * Docker engine that DOCKER_HOST (or the default socket) reaches; when none answers and it runs
 * as root, it starts this project's newest private engine (Docker 28 with buildx, in a network
 * namespace of its own: scripts/engine/), unless IOPAINT_DEMO_PRIVATE_ENGINE=0.
 */
import { spawnSync } from "node:child_process";
import { REPO_ROOT } from "../generator/repo.ts";
import { runCli } from "../generator/run-cli.ts";
import { fail } from "../generator/errors.ts";
import { ExitCode } from "../generator/exit-codes.ts";
import { daemonVersion, findDocker } from "./docker/discovery.ts";
import { Docker } from "./docker/docker.ts";
import { ensureStandInBaseImages } from "./engine/base-images.ts";
import { ensureEngine, waitForHttp, fetchInEngineNetwork, type Engine } from "./engine/private-engine.ts";

const CONFIG = "test/fixtures/iopaint.fixture.toml";
const OUT = ".cache/demo";
const CONTAINER = "iopaint-demo";
const PORT = process.env.IOPAINT_DEMO_PORT ?? "8080";
const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);

async function main(): Promise<number> {
  const { engine, isPrivate } = await pickEngine();
  const env = { ...process.env, ...engine.env, DOCKER_CLI: engine.client };
  say("making the stand-in base images the example app builds on (about two minutes the first time)");
  await ensureStandInBaseImages(engine, { log: say });

  say(`building the example app's cpu and gpu images: npm run bake -- all --config ${CONFIG}`);
  // The runner is a command of its own (its output, its exit code): run it as a user would.
  const bake = spawnSync(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "all", "--config", CONFIG, "--out", OUT, "--source", "test/fixtures/app", "--version", "1.6.0"], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (bake.status !== 0) return bake.status ?? ExitCode.failed;

  const client = new Docker(engine);
  await client.run(["rm", "--force", "--volumes", CONTAINER]);
  const run = await client.run(["run", "-d", "--name", CONTAINER, "-p", `127.0.0.1:${PORT}:8080`, "iopaint-fixture:cpu-1.6.0"]);
  if (run.exitCode !== 0) fail({ kind: "environment", message: `docker run failed: ${run.all.trim()}`, hint: `is port ${PORT} taken? set IOPAINT_DEMO_PORT` });
  const url = `http://127.0.0.1:${PORT}`;
  const get = isPrivate
    ? (path: string) => fetchInEngineNetwork(engine.netns, url + path)
    : async (path: string) => {
        const response = await fetch(url + path);
        return { status: response.status, body: await response.text() };
      };
  if (isPrivate) await waitForHttp(engine.netns, `${url}/api/v1/model`, 60_000);
  else await poll(() => get("/api/v1/model"));
  const model = (await get("/api/v1/model")).body;
  const page = (await get("/")).body;
  const logs = (await client.run(["logs", CONTAINER])).all;

  console.log(`\nThe example app's cpu image is running as container ${CONTAINER}:`);
  console.log(`  log:          ${logs.split("\n").find((line) => line.startsWith("Using device")) ?? "(no device line)"}`);
  console.log(`  GET /api/v1/model → ${model.trim()}`);
  console.log(`  GET /         → ${/<title>([^<]*)<\/title>/.exec(page)?.[1] ?? "?"} (${/iopaint-build-marker" content="([^"]*)"/.exec(page)?.[1] ?? "no build marker"})`);
  if (isPrivate) {
    console.log(`  The UI answers at ${url}/ inside the private engine's network namespace, for example:`);
    console.log(`    nsenter --net=/var/run/netns/${engine.netns} curl -s ${url}/api/v1/model`);
    console.log(`  Use that engine yourself with: eval "$(npm run -s engine -- env ${engine.name})"; stop it with: npm run engine -- stop ${engine.name}`);
  } else {
    console.log(`  Open ${url}/ in a browser.`);
  }
  console.log(`  Stop the container with: docker rm -f -v ${CONTAINER}`);
  return ExitCode.ok;
}

/** The engine DOCKER_HOST reaches, else (as root) the private one. */
async function pickEngine(): Promise<{ engine: Engine; isPrivate: boolean }> {
  try {
    const { docker } = await findDocker(process.env, "auto");
    const server = await daemonVersion(docker);
    say(`using the Docker engine at ${process.env.DOCKER_HOST ?? "the default socket"} (daemon ${server})`);
    return { engine: docker.engine, isPrivate: false };
  } catch (error) {
    if (process.env.IOPAINT_DEMO_PRIVATE_ENGINE === "0") throw error;
    say("no Docker engine answers here; starting this project's private engine (scripts/engine/, needs root)");
    return { engine: await ensureEngine("newest", { log: say }), isPrivate: true };
  }
}

async function poll(check: () => Promise<{ status: number }>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await check()).status < 400) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) fail({ kind: "environment", message: `the demo container did not answer within ${timeoutMs / 1000} s`, hint: `docker logs ${CONTAINER}` });
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

await runCli(main, process.argv.slice(2));
