/**
 * Ctrl-C for a command that runs docker: SIGINT or SIGTERM fires the returned signal, which the
 * running docker command obeys (scripts/docker/docker.ts: SIGINT, so docker cancels the build,
 * then SIGKILL after 10 s); the process leaves with 130 once the current await settles.
 */
import { ExitCode } from "../../generator/exit-codes.ts";
import { Interrupted } from "./docker.ts";

export function cancelOnSignals(stopping: string): AbortSignal {
  const cancel = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (cancel.signal.aborted) return;
      process.stderr.write(`\ninterrupted (${signal}): ${stopping}…\n`);
      cancel.abort();
      // Nothing may be running (between steps): leave anyway.
      setTimeout(() => process.exit(ExitCode.interrupted), 15_000).unref();
    });
  }
  return cancel.signal;
}

/** Runs a command's main; a cancel (or a docker command it interrupted) becomes exit code 130. */
export async function exitCodeUnlessInterrupted(signal: AbortSignal, main: () => Promise<number>): Promise<number> {
  try {
    return await main();
  } catch (error) {
    if (error instanceof Interrupted || signal.aborted) return ExitCode.interrupted;
    throw error;
  }
}
