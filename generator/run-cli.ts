import { parseArgs, type ParseArgsConfig } from "node:util";
import { fail, formatProblem, ProblemsError } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";

/**
 * The one edge where errors become output and exit codes, shared by every command-line tool of
 * the project. Nothing below it prints: problems are values (ProblemsError) until they get here.
 */
export async function runCli(entry: (argv: string[]) => Promise<number>, argv: string[]): Promise<void> {
  try {
    process.exitCode = await entry(argv);
  } catch (error) {
    const { exitCode, text } = describeError(error, process.env.IOPAINT_DEBUG === "1");
    console.error(text);
    process.exitCode = exitCode;
  }
}

/** node:util's parseArgs, with a malformed command line reported as a usage problem (exit 2) that says where help is. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T, helpHint: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    fail({ kind: "usage", message: (error as Error).message, hint: helpHint });
  }
}

/**
 * Pure: what a user sees for an error. Problems print as "error: file:line:col: path: message"
 * with their hint. Anything else is a bug of ours: one line saying so and how to report it, never
 * a stack trace unless IOPAINT_DEBUG=1 asks for one (the report wants it; a user does not).
 */
export function describeError(error: unknown, withStack = false): { exitCode: number; text: string } {
  if (error instanceof ProblemsError) {
    const lines = error.problems.map((problem) => `error: ${formatProblem(problem)}`);
    if (error.problems.length > 1) lines.push(`${error.problems.length} problems`);
    return { exitCode: error.exitCode, text: lines.join("\n") };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const stack = withStack && error instanceof Error && error.stack ? `\n${error.stack}` : "";
  return {
    exitCode: ExitCode.internal,
    text:
      `internal error: ${message.split("\n")[0]}${stack}\n` +
      `This is a bug in iopaint-images, not in your input. Please report it with the command you ran and this message` +
      (withStack ? "." : ", and run it again with IOPAINT_DEBUG=1 to include the stack trace."),
  };
}
