/**
 * The layer measures of image-sizes.ts kept between runs in one JSON file, so that a layer is
 * unpacked once on this machine instead of at every build: after a code change, sizing an image
 * with a 5 GB torch stack unpacks its new code layers alone. It is a cache: a file that is
 * missing or unreadable starts it empty, and a write that fails costs only the speed-up.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { LayerMeasure, LayerMeasures } from "./image-sizes.ts";

/** The most layers kept: the most recently used ones, a few hundred bytes each. */
const MAX_LAYERS = 2000;

interface StoredMeasure {
  unpacked: number;
  compressed: number;
  packages: Record<string, number>;
}

export interface LayerMeasuresFile extends LayerMeasures {
  /** Writes the file if a layer was measured, atomically (a temporary sibling renamed over it). */
  save(): Promise<void>;
}

/** The file's layers; none from a file that is missing or not this JSON. */
async function readStored(file: string): Promise<Record<string, Partial<StoredMeasure> | null>> {
  try {
    const { layers } = JSON.parse(await readFile(file, "utf8")) as { layers?: unknown };
    return layers && typeof layers === "object" ? (layers as Record<string, Partial<StoredMeasure> | null>) : {};
  } catch {
    return {};
  }
}

export async function openLayerMeasures(file: string): Promise<LayerMeasuresFile> {
  const measures = new Map<string, LayerMeasure>();
  for (const [digest, stored] of Object.entries(await readStored(file))) {
    const { unpacked, compressed, packages } = stored ?? {};
    if (Number.isSafeInteger(unpacked) && Number.isSafeInteger(compressed) && packages && typeof packages === "object") {
      measures.set(digest, { unpacked: unpacked as number, compressed: compressed as number, packages: new Map(Object.entries(packages)) });
    }
  }
  let changed = false;
  return {
    get(digest) {
      const measure = measures.get(digest);
      // Used again: moved to the end, the last to be dropped.
      if (measure) {
        measures.delete(digest);
        measures.set(digest, measure);
      }
      return measure;
    },
    set(digest, measure) {
      measures.set(digest, measure);
      changed = true;
    },
    async save() {
      if (!changed) return;
      const layers = Object.fromEntries(
        [...measures].slice(-MAX_LAYERS).map(([digest, { unpacked, compressed, packages }]) => [digest, { unpacked, compressed, packages: Object.fromEntries(packages) }]),
      );
      // A name of its own, so that two runs saving at once never write one temporary file together.
      const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
      try {
        await mkdir(dirname(file), { recursive: true });
        await writeFile(temp, `${JSON.stringify({ layers })}\n`, { flag: "wx" });
        await rename(temp, file);
      } catch {
        await rm(temp, { force: true });
      }
    },
  };
}
