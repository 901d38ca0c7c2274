import { gunzipSync } from "node:zlib";
import type { Docker } from "../../scripts/docker/docker.ts";
import { TarScanner, type TarEntry } from "../../scripts/docker/tar-scan.ts";

/**
 * Which of `needles` occur anywhere in an image as `docker save` writes it: in every layer
 * (unpacked, when the store keeps it gzip-compressed), in its config (env, labels, history) and
 * its manifests, each searched as bytes. Returns "<needle> in <entry>" for each hit; [] when none.
 */
export async function findInImage(docker: Docker, image: string, needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  let chunks: Buffer[] = [];
  const archive = new TarScanner(() => false, {
    wants: (entry: TarEntry) => entry.type === "0",
    data: (_entry, chunk) => chunks.push(Buffer.from(chunk)),
    end: (entry) => {
      let bytes = Buffer.concat(chunks);
      chunks = [];
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
      for (const needle of needles) if (bytes.includes(needle)) hits.push(`${needle} in ${entry.name}`);
    },
  });
  const saved = await docker.consumeStdout(["save", image], (chunk) => archive.push(chunk));
  if (saved.code !== 0) throw new Error(`docker save ${image} failed: ${saved.stderr.trim()}`);
  if (!archive.entries.length) throw new Error(`docker save ${image} wrote no archive`);
  return hits;
}
