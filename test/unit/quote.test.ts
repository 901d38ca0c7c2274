import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import fc from "fast-check";
import hcl from "hcl2-parser";
import { evaluate, evaluateTemplate, builtinFunctions } from "../../generator/bake/expression.ts";
import { hclKey, hclString, shellQuoted } from "../../generator/quote.ts";

const nasty = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("${x}", "%{if}", "$${", "a\\", '"', "\\n", "\n", "\r\n", "\t", "\u0000", "é ☃ 𝄞", "${", "%{", "$", "%", "}", "\\${x}"),
);
const strings = fc.array(nasty, { maxLength: 4 }).map((parts) => parts.join(""));

describe("hclString", () => {
  it("round-trips any string through hcl2-parser, as a value and as a map key (NFC, as HCL defines)", () => {
    fc.assert(
      fc.property(strings, strings, (key, value) => {
        const [parsed, error] = hcl.parseToObject(`target "t" {\n  labels = {\n    ${hclKey(key || "k")} = ${hclString(value)}\n  }\n}\n`);
        assert.ok(parsed, `parse failed: ${JSON.stringify(error)}`);
        assert.deepEqual(parsed.target.t[0].labels, { [(key || "k").normalize("NFC")]: value.normalize("NFC") });
      }),
      { numRuns: 3000 },
    );
  });

  it("escapes template and directive openers", () => {
    assert.equal(hclString("a${b}%{c}"), '"a$${b}%%{c}"');
    assert.equal(hclString('q"\\\n'), '"q\\"\\\\\\n"');
  });

  it("never leaves an interpolation for the evaluator to find inside a string literal", () => {
    fc.assert(
      fc.property(strings, (value) => {
        assert.equal(evaluate(hclString(value), { variables: {}, functions: {} }), value.normalize("NFC"));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("shellQuoted", () => {
  it("is read back by sh as exactly the same word", () => {
    const values = fc.sample(
      fc.string({ unit: "grapheme", maxLength: 30 }).filter((s) => !s.includes("\u0000")),
      200,
    );
    values.push("it's", "$(rm -rf /)", "`id`", "a\nb", "&& echo x;", "\\");
    const script = values.map((v) => `printf '%s\\0' ${shellQuoted(v)}`).join("\n");
    const out = execFileSync("sh", ["-c", script], { encoding: "utf8" });
    assert.deepEqual(out.split("\0").slice(0, -1), values);
  });
});

describe("bake expressions", () => {
  const scope = {
    variables: { V: "", IMAGE: "iopaint", LIST: ["a"] },
    functions: { ...builtinFunctions, twice: ([x]: unknown[]) => [x, x] as never },
  };
  const cases: [string, unknown][] = [
    ['V == "" ? "empty" : "set"', "empty"],
    ['V != "" || IMAGE == "iopaint"', true],
    ['!(V == "")', false],
    ['concat(["${IMAGE}:x"], V == "" ? [] : ["y"])', ["iopaint:x"]],
    ['concat(LIST, ["b", "c"])', ["a", "b", "c"]],
    ['compact(["a", "", "b"])', ["a", "b"]],
    ['"$${IMAGE} %%{x}"', "${IMAGE} %{x}"],
    ['"a\\"b\\\\c\\u00e9"', 'a"b\\cé'],
    ['twice("${IMAGE}-${V}")', ["iopaint-", "iopaint-"]],
    ['join(",", ["a", "b"])', "a,b"],
  ];
  for (const [source, expected] of cases) {
    it(`evaluates ${source}`, () => assert.deepEqual(evaluate(source, scope), expected));
  }
  it("treats a template that is one interpolation as that value", () => {
    assert.deepEqual(evaluateTemplate("${LIST}", scope), ["a"]);
    assert.equal(evaluateTemplate("x-${IMAGE}", scope), "x-iopaint");
  });
  it("reports what it does not support instead of guessing", () => {
    assert.throws(() => evaluate("1 + 2", scope), /unsupported syntax "\+"/);
    assert.throws(() => evaluate("NOPE", scope), /unknown variable NOPE/);
    assert.throws(() => evaluate("nope()", scope), /unknown function nope\(\)/);
  });
});
