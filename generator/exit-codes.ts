/**
 * The one table of exit codes for every command of this project (generator CLI, bake runner).
 * README.md and each command's --help list the same values; test/unit/exit-codes.test.ts keeps them in step.
 */
export const ExitCode = {
  ok: 0,
  /** `check`: a generated file differs from what the config produces. `bake`: a build step failed. */
  failed: 1,
  /** The config or the command line is wrong: invalid TOML, schema or compatibility errors, unknown target. */
  badInput: 2,
  /** The environment is not ready: docker missing, daemon unreachable, checkout missing, unwritable output, a registry that is unreachable or refuses a push, no emulator for a platform. */
  environment: 3,
  /** A built image is larger than its variant's size_budget. */
  overBudget: 4,
  /** A bug in this project: the message says how to report it. */
  internal: 70,
  /** Interrupted by SIGINT (128 + 2, as shells report it). */
  interrupted: 130,
} as const;

export type ExitCodeName = keyof typeof ExitCode;
