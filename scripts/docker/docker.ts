/**
 * The one module that runs docker: every command of the runner, the bench, the demo and the
 * tests goes through a Docker made from an Engine value (scripts/docker/engine.ts), so the
 * client, the socket and the plugins are chosen once, and a cancel (AbortSignal or Ctrl-C)
 * stops a running command the same way everywhere: SIGINT (docker cancels the build), then
 * SIGKILL after 10 s.
 */
import { execa } from "execa";
import { netnsPath, type Engine } from "./engine.ts";

export type { Engine, EngineName } from "./engine.ts";

export interface RunOptions {
  cwd?: string;
  /** Extra environment for this command (IOPAINT_* bake variables, for example). */
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Run the client inside the engine's network namespace: for commands whose client itself talks
   * to a registry there (`buildx imagetools`), where a daemon-side push or pull needs nothing.
   */
  inEngineNetwork?: boolean;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  all: string;
  timedOut: boolean;
}

/** A command was cancelled (its AbortSignal fired): exit code 130 at the edge. */
export class Interrupted extends Error {
  constructor() {
    super("interrupted");
    this.name = "Interrupted";
  }
}

/** `check()` saw a non-zero exit: the command and its last lines. */
export class DockerCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(`docker ${argv.slice(0, 4).join(" ")}… failed (exit ${result.exitCode}):\n${result.all.trim().split("\n").slice(-30).join("\n")}`);
    this.name = "DockerCommandError";
  }
}

export interface ImageFacts {
  id: string;
  size: number;
  tags: string[];
}

export class Docker {
  constructor(readonly engine: Engine) {}

  /** The client's environment: ours, then the engine's (DOCKER_HOST, DOCKER_CONFIG…), then the command's. */
  environment(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return { ...process.env, ...this.engine.env, ...extra };
  }

  /** What every command shares: where it runs, its environment, no throw on a non-zero exit, and the cancel. */
  private common(options: RunOptions) {
    if (options.signal?.aborted) throw new Interrupted();
    return {
      cwd: options.cwd,
      env: this.environment(options.env),
      extendEnv: false,
      reject: false,
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      ...(options.signal ? { cancelSignal: options.signal, forceKillAfterDelay: 10_000, killSignal: "SIGINT" as const } : {}),
    };
  }

  /** Runs `docker <args>` and collects its output; a non-zero exit is a result, not an error. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [file, argv] = options.inEngineNetwork ? ["nsenter", [`--net=${netnsPath(this.engine.netns)}`, this.engine.client, ...args]] : [this.engine.client, args];
    const result = await execa(file, argv, {
      ...this.common(options),
      all: true,
      maxBuffer: 256 * 1024 * 1024,
      ...(options.input !== undefined ? { input: options.input } : { stdin: "ignore" as const }),
    });
    if (options.signal?.aborted) throw new Interrupted();
    return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout ?? ""), stderr: String(result.stderr ?? ""), all: String(result.all ?? ""), timedOut: Boolean(result.timedOut) };
  }

  /** Like run(), but a non-zero exit throws DockerCommandError. */
  async check(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const result = await this.run(args, options);
    if (result.exitCode !== 0) throw new DockerCommandError(args, result);
    return result;
  }

  /** The non-empty lines a listing prints (`docker image ls --quiet`, …); a failure throws. */
  async lines(args: readonly string[]): Promise<string[]> {
    return (await this.check(args)).stdout
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
  }

  /**
   * Runs a long command (a build) with its output passed on as it comes (`onOutput`, default:
   * our stderr) and kept for the report; with `terminal`, on our own stdout and stderr, unkept.
   */
  async stream(args: readonly string[], options: RunOptions & { onOutput?: (chunk: string) => void; terminal?: boolean } = {}): Promise<{ code: number; output: string; seconds: number }> {
    const onOutput = options.onOutput ?? ((chunk: string) => process.stderr.write(chunk));
    let output = "";
    const started = performance.now();
    if (options.terminal) {
      // The command writes to our terminal itself (buildx's tty progress needs one), so nothing is kept.
      const result = await execa(this.engine.client, args, { ...this.common(options), stdin: "ignore", stdout: "inherit", stderr: "inherit" });
      if (options.signal?.aborted) throw new Interrupted();
      return { code: result.exitCode ?? 1, output, seconds: (performance.now() - started) / 1000 };
    }
    const child = execa(this.engine.client, args, { ...this.common(options), stdin: "ignore", all: true, buffer: false });
    child.all?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      onOutput(text);
    });
    const result = await child;
    if (options.signal?.aborted) throw new Interrupted();
    return { code: result.exitCode ?? 1, output, seconds: (performance.now() - started) / 1000 };
  }

  /** Runs a command whose stdout is a stream to consume (`docker save`), never collected in memory. */
  async consumeStdout(args: readonly string[], consume: (chunk: Buffer) => void, options: RunOptions & { awaitEach?: () => Promise<void> } = {}): Promise<{ code: number; stderr: string }> {
    const child = execa(this.engine.client, args, { ...this.common(options), buffer: false, stdin: "ignore", stderr: "pipe" });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    for await (const chunk of child.stdout!) {
      consume(chunk as Buffer);
      // A slow consumer (zlib) holds the stream here, so memory stays at a chunk or two.
      if (options.awaitEach) await options.awaitEach();
    }
    const result = await child;
    if (options.signal?.aborted) throw new Interrupted();
    return { code: result.exitCode ?? 1, stderr };
  }

  async serverVersion(timeoutMs = 20_000): Promise<{ version?: string; problem: string }> {
    const result = await this.run(["version", "--format", "{{.Server.Version}}"], { timeoutMs });
    const version = result.stdout.trim();
    if (result.exitCode === 0 && version) return { version, problem: "" };
    return { problem: result.stderr.split("\n").find((line) => line.trim()) ?? (result.timedOut ? `no answer within ${timeoutMs / 1000} s` : "no answer") };
  }

  /** `docker buildx version`'s number ("0.29.1"), or undefined without the plugin. */
  async buildxVersion(env?: Record<string, string | undefined>): Promise<string | undefined> {
    const result = await this.run(["buildx", "version"], { env });
    return result.exitCode === 0 ? /v?(\d+\.\d+\.\d+)/.exec(result.stdout)?.[1] : undefined;
  }

  async inspectImage(ref: string): Promise<ImageFacts | undefined> {
    const result = await this.run(["image", "inspect", "--format", "{{json .}}", ref]);
    if (result.exitCode !== 0) return undefined;
    const image = JSON.parse(result.stdout) as { Id: string; Size: number; RepoTags: string[] | null };
    return { id: image.Id, size: image.Size, tags: image.RepoTags ?? [] };
  }

  /** `docker inspect --format '{{json <format>}}' <object>`, parsed. */
  async inspect<T = unknown>(format: string, object: string): Promise<T> {
    return JSON.parse((await this.check(["inspect", "--format", `{{json ${format}}}`, object])).stdout) as T;
  }

  /**
   * How the daemon stores images, which decides what `docker image inspect`'s Size means: the
   * containerd image store (Docker 24+ with containerd-snapshotter, Docker Desktop) counts the
   * compressed content it holds, the graph drivers (overlay2, Docker 20.10) the unpacked layers.
   */
  async imageStore(): Promise<"containerd" | "graphdriver"> {
    const info = await this.run(["info", "--format", "{{json .DriverStatus}}"]);
    return /io\.containerd\.snapshotter/.test(info.stdout) ? "containerd" : "graphdriver";
  }

  async hasNvidiaRuntime(): Promise<boolean> {
    return /"nvidia"/.test((await this.run(["info", "--format", "{{json .Runtimes}}"])).stdout);
  }

  /** Removes containers (with their anonymous volumes), volumes and images by name or ID; missing ones are fine. */
  async remove(what: { containers?: Iterable<string>; volumes?: Iterable<string>; images?: Iterable<string> }): Promise<void> {
    for (const [items, command] of [
      [what.containers, ["rm", "-f", "-v"]],
      [what.volumes, ["volume", "rm", "-f"]],
      [what.images, ["image", "rm", "-f"]],
    ] as const) {
      const list = [...(items ?? [])];
      if (list.length) await this.run([...command, ...list]);
    }
  }
}
