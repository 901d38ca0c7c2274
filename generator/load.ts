import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import TOML from "@iarna/toml";
import { fail, ProblemsError } from "./errors.ts";
import { lockFileName } from "./lock.ts";

/** A config file as read from disk: the parsed object plus the text, kept for locating keys in errors. */
export interface LoadedConfig {
  file: string;
  text: string;
  raw: Record<string, unknown>;
  /** The variants' Python locks found beside the config (generator/lock.ts), by variant name. */
  locks?: Record<string, { file: string; text: string }>;
}

/** A variant name that can name a file: the schema's rule, checked before the schema runs. */
const VARIANT_NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Reads and parses a TOML config, and the lock of each variant beside it (locks/<variant>.txt),
 * named in messages relative to `shownAs`, the config as the user gave it. The only I/O of the
 * pipeline's front half.
 */
export async function loadConfigFile(file: string, shownAs = file): Promise<LoadedConfig> {
  const loaded = { ...(await readConfig(file)), file: shownAs };
  const variants = loaded.raw.variants;
  const names = variants !== null && typeof variants === "object" ? Object.keys(variants).filter((name) => VARIANT_NAME.test(name)) : [];
  const locks: Record<string, { file: string; text: string }> = {};
  for (const name of names) {
    const shown = join(dirname(shownAs), lockFileName(name));
    const text = await readFile(join(dirname(file), lockFileName(name)), "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      fail({
        kind: "environment",
        message: `cannot read the lock of ${name}: ${error.code ?? error.message}`,
        location: { file: shown },
        hint: "make it a readable file, or delete it to build unlocked",
      });
    });
    if (text !== undefined) locks[name] = { file: shown, text };
  }
  return { ...loaded, locks };
}

async function readConfig(file: string): Promise<LoadedConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory, not a file" : code === "EACCES" ? "permission denied" : String(code);
    fail({ kind: "environment", message: `cannot read the config: ${why}`, location: { file }, hint: "pass an existing TOML file with --config FILE" });
  }
  return parseConfigBytes(bytes, file);
}

/** Pure: a config file's bytes to the parsed config, or a problem (not UTF-8, not TOML). */
export function parseConfigBytes(bytes: Uint8Array, file: string): LoadedConfig {
  return parseConfigText(decodeUtf8(bytes, file), file);
}

function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail({ kind: "syntax", message: "the config is not valid UTF-8 text", location: { file }, hint: "TOML files must be UTF-8; re-save it as UTF-8" });
  }
}

/** Pure: TOML text to object, or a syntax problem with its 1-based line and column. */
export function parseConfigText(text: string, file: string): LoadedConfig {
  try {
    const raw = TOML.parse(text) as Record<string, unknown>;
    return { file, text, raw: toPlain(raw) as Record<string, unknown> };
  } catch (error) {
    throw syntaxProblem(error, file);
  }
}

function syntaxProblem(error: unknown, file: string): Error {
  const e = error as { line?: number; col?: number; message?: string };
  if (typeof e.line !== "number") throw error;
  // @iarna/toml says "Unterminated string at row 2, col 7, pos 20:\n<excerpt>"; keep the first clause.
  const message = (e.message ?? "syntax error").split("\n")[0].replace(/ at row \d+, col \d+, pos \d+:?$/, "");
  // @iarna/toml names a bad escape by its character code ("unknown escape character: 113").
  const readable = message.replace(/^Unknown escape character: (\d+)$/, (_, code: string) => `Unknown escape \\${String.fromCodePoint(Number(code))} in a string`);
  return new ProblemsError([
    {
      kind: "syntax",
      message: `invalid TOML: ${readable.charAt(0).toLowerCase()}${readable.slice(1)}`,
      location: { file, line: e.line + 1, column: (e.col ?? 0) + 1 },
      hint: "see https://toml.io for the syntax",
    },
  ]);
}

/**
 * @iarna/toml returns objects with symbol-keyed type markers and Date subclasses; the schema
 * validator and the emitters want plain JSON values.
 */
function toPlain(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}
