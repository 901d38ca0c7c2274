// The private test engine from the command line:
//   tsx scripts/engine-cli.ts start|stop|status|env|base-images
// Exit codes: 0 ok, 1 engine not running (status) or an unexpected error, 2 usage,
// 3 environment problem (one line on stderr: what failed and how to fix it).
import { ensureStandInBaseImages } from "./engine/base-images.js";
import { EngineEnvironmentError, ensureEngine, engineStatus, stopEngine } from "./engine/private-engine.js";

const USAGE = `usage: tsx scripts/engine-cli.ts <command>

  start        start the private Docker engine (or reuse the running one)
  stop         stop it and remove its network namespace (images stay on disk)
  status       say whether it runs (exit 0) or not (exit 1)
  env          start it if needed and print export lines:  eval "$(npm run -s engine -- env)"
  base-images  start it if needed and make the stand-in base images (python, cuda, node)

State lives in $IOPAINT_ENGINE_DIR (default /var/tmp/iopaint-engine); $DOCKER_CLI picks the client.`;

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.length > 0 || !command) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  switch (command) {
    case "start": {
      const engine = await ensureEngine();
      process.stdout.write(`engine running: DOCKER_HOST=${engine.dockerHost} (client ${engine.client}, network namespace ${engine.netns})\n`);
      return 0;
    }
    case "stop":
      await stopEngine();
      process.stdout.write("engine stopped\n");
      return 0;
    case "status": {
      const s = await engineStatus();
      if (s.running) {
        process.stdout.write(
          `running: pid ${s.pid}, Docker ${s.serverVersion}, storage ${s.storageDriver ?? "?"}, DOCKER_HOST=${s.dockerHost}, network namespace ${s.netns}\n`,
        );
        return 0;
      }
      process.stdout.write(`not running (state in ${s.stateDir}); start it with: npm run engine -- start\n`);
      return 1;
    }
    case "env": {
      const engine = await ensureEngine({ log: () => {} });
      process.stdout.write(`# private test engine; build with ${engine.client} (Docker 20.10 builds with BuildKit without buildx)\n`);
      for (const [key, value] of Object.entries({ ...engine.env, DOCKER_CLI: engine.client })) {
        process.stdout.write(`export ${key}=${shellQuote(value)}\n`);
      }
      return 0;
    }
    case "base-images": {
      const engine = await ensureEngine();
      const images = await ensureStandInBaseImages(engine);
      for (const image of Object.values(images)) process.stdout.write(`${image.ref}\t${image.id}\n`);
      return 0;
    }
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof EngineEnvironmentError) {
      process.stderr.write(`error: ${error.summary}\n`);
      if (error.details) process.stderr.write(`${error.details}\n`);
      process.exitCode = 3;
      return;
    }
    process.stderr.write(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
