/**
 * `npm run lint` (and the last step of `npm run check`): Biome's formatter and linter on the
 * TypeScript (biome.jsonc says which files and rules), then ShellCheck (Debian's `shellcheck`) on
 * every shell script in the repository: each file Git tracks whose first line runs sh or bash.
 * Exit codes: 0 clean, 1 a finding, 3 shellcheck or git missing. `npm run format` applies Biome's fixes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { ExitCode } from "../generator/exit-codes.ts";
import { REPO_ROOT } from "../generator/repo.ts";
import { onPath } from "./on-path.ts";

const SHELL_SHEBANG = /^#!\s*(?:\/usr\/bin\/env\s+)?(?:\/bin\/|\/usr\/bin\/)?(?:sh|bash)\b/;

async function shellScripts(): Promise<string[]> {
  const { stdout } = await execa("git", ["ls-files", "-z"], { cwd: REPO_ROOT });
  return stdout.split("\0").filter((file) => file && SHELL_SHEBANG.test(readFileSync(join(REPO_ROOT, file), "utf8").slice(0, 64)));
}

async function main(): Promise<number> {
  const biome = await execa("biome", ["check", "."], { cwd: REPO_ROOT, preferLocal: true, reject: false, stdio: "inherit" });
  if (!onPath("shellcheck", process.env.PATH)) {
    console.error("error: shellcheck is not installed\n  hint: apt-get install shellcheck (Debian, Ubuntu), then run npm run check again");
    return ExitCode.environment;
  }
  if (!onPath("git", process.env.PATH)) {
    console.error("error: git is not installed, and the shell scripts are the files Git tracks\n  hint: apt-get install git");
    return ExitCode.environment;
  }
  const scripts = await shellScripts();
  const shellcheck = await execa("shellcheck", scripts, { cwd: REPO_ROOT, reject: false, stdio: "inherit" });
  if (shellcheck.exitCode === 0) console.error(`shellcheck: ${scripts.length} scripts clean (${scripts.join(", ")})`);
  return biome.exitCode === 0 && shellcheck.exitCode === 0 ? ExitCode.ok : ExitCode.failed;
}

process.exitCode = await main();
