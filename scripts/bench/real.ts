/**
 * `npm run bench -- --real`: the subject is IOPaint 1.6.0's real packages, as the real-packages
 * test builds them (scripts/real-iopaint.ts): its checkout and config/iopaint.toml with the
 * declared differences (the stand-in bases, torch from PyPI), locked with `npm run lock`. Builds
 * reach PyPI, the machine's Debian mirror and the CA this machine's pip trusts through the
 * project's own settings, and, since an engine's namespace has no route out, through a proxy at
 * each engine's gateway.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { lockFileName } from "../../generator/lock.ts";
import { VARIABLES } from "../../generator/plan.ts";
import { REPO_ROOT } from "../../generator/repo.ts";
import { readDebianMirror } from "../engine/host.ts";
import { startOutboundProxy, type OutboundProxy } from "../engine/netns-server.ts";
import { downloadWheel, pipSetting, realCheckout, realConfigText } from "../real-iopaint.ts";
import type { BenchDocker, Log } from "./docker.ts";
import type { AddedPackage, BuildPath } from "./figures.ts";
import { generateSubject, type BenchSubject } from "./subject.ts";

/**
 * What the requirements.txt rebuilds add, one per repeat: releases of a small package that
 * IOPaint does not need, each new to BuildKit's cache in its run (subject.ts, applyEdit).
 */
const ADDED = [
  ["tomli-w", "1.0.0"],
  ["tomli-w", "1.1.0"],
  ["tomli-w", "1.2.0"],
] as const;

/** The most repeats --real measures: one added release each. */
export const REAL_MAX_REPEATS = ADDED.length;

/** The port of the proxy in each engine's namespace. */
const PROXY_PORT = 3128;

export interface RealSubject {
  subject: BenchSubject;
  /** Each path's proxy, as build args. */
  proxies: Partial<Record<BuildPath, Record<string, string>>>;
  stop(): Promise<void>;
}

/**
 * The real subject in `work`: the checkout, the config (in `cacheDir`, with its locks, which are
 * made once, on the first path's engine, and reused while the config is the same), a proxy per
 * engine and the wheels of the packages `repeats` rebuilds add.
 */
export async function prepareRealSubject(dockers: Partial<Record<BuildPath, BenchDocker>>, work: string, cacheDir: string, repeats: number, log: Log): Promise<RealSubject> {
  const app = await realCheckout();
  const configDir = join(cacheDir, "real");
  const config = join(configDir, "iopaint.toml");
  const text = await realConfigText();
  if ((await readFile(config, "utf8").catch(() => undefined)) !== text) {
    await rm(configDir, { recursive: true, force: true });
    await mkdir(configDir, { recursive: true });
    await writeFile(config, text);
  }
  const caCert = await pipSetting("cert");
  const variables: Record<string, string> = { [VARIABLES.debianMirror]: readDebianMirror(), ...(caCert ? { [VARIABLES.caCert]: caCert } : {}) };

  const servers: OutboundProxy[] = [];
  const stop = async () => {
    for (const server of servers) await server.stop();
  };
  try {
    const proxies: RealSubject["proxies"] = {};
    for (const [path, docker] of Object.entries(dockers) as [BuildPath, BenchDocker][]) {
      const dir = join(work, `proxy-${path}`);
      await mkdir(dir, { recursive: true });
      const proxy = await startOutboundProxy(docker.engine, PROXY_PORT, dir);
      servers.push(proxy);
      proxies[path] = { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url };
    }
    const lockPath = (Object.keys(dockers) as BuildPath[])[0];
    if (!["cpu", "gpu"].every((variant) => existsSync(join(configDir, lockFileName(variant))))) {
      log(`[bench] locking cpu and gpu on the ${lockPath} path's engine: npm run lock -- cpu gpu --config ${config} (made once, kept in ${configDir})`);
      await lockReal(dockers[lockPath]!, config, join(work, "lock-out"), app, caCert, { ...variables, ...proxies[lockPath] });
    } else log(`[bench] the locks of ${configDir} are reused (remove that directory to lock again)`);

    const added: AddedPackage[] = [];
    for (const [name, version] of ADDED.slice(0, repeats)) added.push({ name, version, wheelBytes: (await stat(await downloadWheel(name, version))).size });
    const generated = await generateSubject(config, "real-iopaint.toml", join(work, "generated"));
    return { subject: { kind: "real", ...generated, app, variables, added }, proxies, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `npm run lock` as users run it, on `docker`'s engine; its progress goes to stderr. */
async function lockReal(docker: BenchDocker, config: string, out: string, source: string, caCert: string | undefined, env: Record<string, string>): Promise<void> {
  const argv = ["--import", "tsx", "scripts/lock/cli.ts", "cpu", "gpu", "--config", config, "--out", out, "--source", source, ...(caCert ? ["--ca-cert", caCert] : [])];
  const locked = await execa(process.execPath, argv, { cwd: REPO_ROOT, env: { ...docker.engine.env, ...env, NO_PROXY: "" }, reject: false, stdout: "inherit", stderr: "inherit" });
  if (locked.exitCode !== 0) throw new Error(`npm run lock -- cpu gpu --config ${config} failed (exit code ${locked.exitCode}): see its output above`);
}
