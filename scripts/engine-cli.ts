// The private test engine from the command line:
//   tsx scripts/engine-cli.ts start|stop|status|env|base-images
// Exit codes (generator/exit-codes.ts): 0 ok, 1 engine not running (status), 2 usage,
// 3 environment problem (what failed and how to fix it), 70 internal error.
import { fail } from "../generator/errors.ts";
import { ExitCode } from "../generator/exit-codes.ts";
import { shellQuoted } from "../generator/quote.ts";
import { runCli } from "../generator/run-cli.ts";
import { ensureStandInBaseImages } from "./engine/base-images.js";
import { ensureEngine, engineStatus, stopEngine } from "./engine/private-engine.js";

const USAGE = `usage: tsx scripts/engine-cli.ts <command>

  start        start the private Docker engine (or reuse the running one)
  stop         stop it and remove its network namespace (images stay on disk)
  status       say whether it runs (exit 0) or not (exit 1)
  env          start it if needed and print export lines:  eval "$(npm run -s engine -- env)"
  base-images  start it if needed and make the stand-in base images (python, cuda, node)

State lives in $IOPAINT_ENGINE_DIR (default /var/tmp/iopaint-engine); $DOCKER_CLI picks the client.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.length > 0 || !command) fail({ kind: "usage", message: command ? `${command} takes no arguments` : "no command given", hint: USAGE });
  switch (command) {
    case "start": {
      const engine = await ensureEngine();
      process.stdout.write(`engine running: DOCKER_HOST=${engine.dockerHost} (client ${engine.client}, network namespace ${engine.netns})\n`);
      return ExitCode.ok;
    }
    case "stop":
      await stopEngine();
      process.stdout.write("engine stopped\n");
      return ExitCode.ok;
    case "status": {
      const s = await engineStatus();
      if (s.running) {
        process.stdout.write(
          `running: pid ${s.pid}, Docker ${s.serverVersion}, storage ${s.storageDriver ?? "?"}, DOCKER_HOST=${s.dockerHost}, network namespace ${s.netns}\n`,
        );
        return ExitCode.ok;
      }
      process.stdout.write(`not running (state in ${s.stateDir}); start it with: npm run engine -- start\n`);
      return ExitCode.failed;
    }
    case "env": {
      const engine = await ensureEngine({ log: () => {} });
      process.stdout.write(`# private test engine; build with ${engine.client} (Docker 20.10 builds with BuildKit without buildx)\n`);
      for (const [key, value] of Object.entries({ ...engine.env, DOCKER_CLI: engine.client })) {
        process.stdout.write(`export ${key}=${shellQuoted(value)}\n`);
      }
      return ExitCode.ok;
    }
    case "base-images": {
      const engine = await ensureEngine();
      const images = await ensureStandInBaseImages(engine);
      for (const image of Object.values(images)) process.stdout.write(`${image.ref}\t${image.id}\n`);
      return ExitCode.ok;
    }
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return ExitCode.ok;
    default:
      fail({ kind: "usage", message: `unknown command "${command}"`, hint: USAGE });
  }
}

await runCli(main, process.argv.slice(2));
