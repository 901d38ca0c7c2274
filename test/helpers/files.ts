import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

/** Every file under `dir` (hidden ones too) with its bytes, by path relative to `dir`: to prove nothing changed. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() || entry.isSymbolicLink()) files[join(entry.parentPath, entry.name).slice(dir.length)] = (await readFile(join(entry.parentPath, entry.name))).toString("base64");
  }
  return files;
}

/**
 * A temporary directory for the tests of the describe() block that calls this: made before
 * them, removed after them (failures included). Returns its path once the tests run.
 */
export function scratchDir(prefix: string): () => string {
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (!dir) throw new Error("scratchDir: used outside a test");
    return dir;
  };
}
