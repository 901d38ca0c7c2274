import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { netnsPath, type Engine } from "../../scripts/docker/engine.ts";
import { REPO } from "./compile.ts";
import { startNetnsServer, type NetnsServer } from "../../scripts/engine/netns-server.ts";

const VERDACCIO = join(REPO, "node_modules/verdaccio/bin/verdaccio");

export interface NpmRegistry {
  /** Over plain HTTP on `port`. */
  http: NetnsServer;
  /** Over TLS on `tls.port`, when asked for. */
  tls?: NetnsServer;
  stop(): Promise<void>;
}

/**
 * An npm registry in an engine's network namespace: verdaccio (a devDependency) with no uplink,
 * holding only `packages` ("name@version"), fetched here with npm pack from this machine's
 * registry and published to it. With `tls`, a second verdaccio on the same storage answers over
 * TLS with that key and certificate (its log says when it listens: no client here trusts it).
 */
export async function startNpmRegistry(engine: Engine, dir: string, options: { port: number; packages: string[]; tls?: { port: number; key: string; cert: string } }): Promise<NpmRegistry> {
  const config = (tls?: { key: string; cert: string }) =>
    JSON.stringify({
      storage: join(dir, "npm-storage"),
      uplinks: {},
      packages: { "**": { access: "$all", publish: "$anonymous" } },
      log: { type: "stdout", format: "pretty", level: "http" },
      ...(tls ? { https: tls } : {}),
    });
  await writeFile(join(dir, "verdaccio.yaml"), config());
  const http = await startNetnsServer(engine, [process.execPath, VERDACCIO, "--config", join(dir, "verdaccio.yaml"), "--listen", `0.0.0.0:${options.port}`], {
    port: options.port,
    logFile: join(dir, "verdaccio.log"),
    readyPath: "/-/ping",
  });
  const servers = [http];
  const stop = async () => {
    for (const server of servers) await server.stop();
  };
  try {
    const local = `//127.0.0.1:${options.port}/`;
    for (const spec of options.packages) {
      const tarball = (await execa("npm", ["pack", spec, "--pack-destination", dir], { cwd: dir })).stdout.trim().split("\n").pop()!;
      await execa("nsenter", [`--net=${netnsPath(engine.netns)}`, "npm", "publish", join(dir, tarball), "--registry", `http:${local}`, `--${local}:_authToken=test`], { cwd: dir });
    }
    if (!options.tls) return { http, stop };
    const { port, key, cert } = options.tls;
    await writeFile(join(dir, "verdaccio-tls.yaml"), config({ key, cert }));
    const tls = await startNetnsServer(engine, [process.execPath, VERDACCIO, "--config", join(dir, "verdaccio-tls.yaml"), "--listen", `https://0.0.0.0:${port}`], {
      port,
      logFile: join(dir, "verdaccio-tls.log"),
      readyLog: new RegExp(`https://0\\.0\\.0\\.0:${port}`),
    });
    servers.push(tls);
    return { http, tls, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
