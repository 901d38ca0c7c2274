import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExitCode } from "../../generator/exit-codes.ts";
import { readRepoFile } from "../helpers/compile.ts";

/** generator/exit-codes.ts is the one table: README.md's table and each command's --help say the same. */
describe("exit codes", () => {
  it("README.md's table lists exactly the codes of generator/exit-codes.ts", () => {
    const readme = readRepoFile("README.md");
    const table = readme.slice(readme.indexOf("## Exit codes"), readme.indexOf("## More docs"));
    const listed = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      listed,
      Object.values(ExitCode).sort((a, b) => a - b),
    );
  });

  it("the bake runner's --help names every code it can return", () => {
    const source = readRepoFile("scripts/bake/cli.ts");
    const help = source.slice(source.indexOf("Exit codes:"), source.indexOf("internal error.`"));
    for (const name of ["ok", "failed", "badInput", "environment", "overBudget", "interrupted", "internal"] as const) {
      assert.ok(help.includes(`\${ExitCode.${name}}`), `bake --help lists ExitCode.${name}`);
    }
  });

  it("npm run lock's --help names every code it can return", () => {
    const source = readRepoFile("scripts/lock/cli.ts");
    const help = source.slice(source.indexOf("Exit codes:"), source.indexOf("internal error.`"));
    for (const name of ["ok", "failed", "badInput", "environment", "interrupted", "internal"] as const) {
      assert.ok(help.includes(`\${ExitCode.${name}}`), `lock --help lists ExitCode.${name}`);
    }
  });
});
