/**
 * Finding a program on PATH as a shell would: the first directory that holds an executable file
 * of that name. Shared by the docker discovery and `npm run scan`'s scanner lookup.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Pure apart from `executable`: where `name` is found on `path` (a PATH value), if anywhere. */
export function onPath(name: string, path: string | undefined, executable: (file: string) => boolean = isExecutable): string | undefined {
  return (path ?? "")
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .find(executable);
}
