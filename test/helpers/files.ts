import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** Every file under `dir` (hidden ones too) with its bytes, by path relative to `dir`: to prove nothing changed. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() || entry.isSymbolicLink()) files[join(entry.parentPath, entry.name).slice(dir.length)] = (await readFile(join(entry.parentPath, entry.name))).toString("base64");
  }
  return files;
}
