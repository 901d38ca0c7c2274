import assert from "node:assert/strict";
import { describe, it } from "node:test";
import schema from "../../config/schema.json" with { type: "json" };
import { emitConfigDocs } from "../../generator/emit/config-docs.ts";
import { parseConfigText } from "../../generator/load.ts";
import { documentedKey } from "../../generator/validate.ts";
import { MAIN_CONFIG, readRepoFile } from "../helpers/compile.ts";

describe("docs/config.md", () => {
  const docs = readRepoFile("docs/config.md");

  it("is the committed output of the schema (npm run check fails otherwise)", () => {
    assert.equal(docs, emitConfigDocs(schema, "config/schema.json"));
  });

  it("documents every key config/iopaint.toml uses, in the section of its table", () => {
    const sections = new Map<string, string>();
    for (const part of docs.split(/^## /m).slice(1)) sections.set(/^`\[(.+?)\]`/.exec(part)![1], part);
    const walk = (value: unknown, path: string[]): void => {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        const [table, key] = [documentedKey(path.slice(0, -1)), path[path.length - 1]];
        const section = sections.get(table) ?? sections.get(documentedKey(path.slice(0, -2)));
        assert.ok(section, `no section for [${table}]`);
        assert.ok(section.includes(`| \`${key}\` |`) || table === "groups", `${path.join(".")} is not documented in [${table}]`);
        return;
      }
      for (const [key, child] of Object.entries(value)) walk(child, [...path, key]);
    };
    walk(parseConfigText(readRepoFile(MAIN_CONFIG), MAIN_CONFIG).raw, []);
  });

  it("names the hint's keys: a validation hint points at a heading that exists", () => {
    assert.equal(documentedKey(["variants", "gpu", "platforms", "0"]), "variants.<name>.platforms");
    assert.ok(docs.includes("## `[variants.<name>]`"));
    assert.ok(docs.includes("| `platforms` |"));
  });
});
