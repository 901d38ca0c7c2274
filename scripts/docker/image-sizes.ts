/**
 * Where an image's size is, in both sizes people mean: unpacked (on disk after a pull, what
 * Docker 20.10's `docker images` shows) and compressed (gzip, as a registry stores and Docker Hub
 * shows it). Both come from one `docker save` stream, the same on either image store: Docker
 * 20.10 saves uncompressed layer tars (gzipped here at zlib's default level, as `docker push`
 * compresses them), the containerd image store saves the gzip blobs it holds (unpacked here).
 * Each layer is then credited to a part of the image from the history its config records.
 */
import { once } from "node:events";
import zlib from "node:zlib";
import type { Docker } from "./docker.ts";
import { resolveLink, TarScanner, type EntryConsumer, type TarEntry } from "./tar-scan.ts";

export interface Bytes {
  unpacked: number;
  compressed: number;
}

/** "torch stack" and "packages": the runtime's dependency layers (docker/Dockerfile's torch stage; its packages and additions stages). */
export type ImagePart = "base image" | "system packages" | "torch stack" | "packages" | "app" | "other";

export interface ImageSizes extends Bytes {
  parts: (Bytes & { part: ImagePart })[];
  /** Every layer, bottom first (the order of the image's RootFS.Layers), with the step that made it. */
  layers: (Bytes & { createdBy: string })[];
  /** The virtualenv's largest site-packages entries, unpacked bytes, largest first. */
  largestPackages: { name: string; unpacked: number }[];
}

/** Pure: which part of the image a layer belongs to, from its history's created_by. */
export function partOf(createdBy: string, index: number, baseLayers: number): ImagePart {
  if (index < baseLayers) return "base image";
  if (/\/opt\/app(-record|-layers)?\//.test(createdBy)) return "app";
  if (/\/opt\/(packages|additions)\//.test(createdBy)) return "packages";
  if (/COPY .*\/opt\/venv/.test(createdBy)) return "torch stack";
  if (/^(\|\d+ .*)?(RUN|\/bin\/sh -c)/.test(createdBy.replace(/^\/bin\/sh -c #\(nop\) /, ""))) return "system packages";
  return "other";
}

/** Pure: per-layer sizes and their history, summed by part (in a fixed order, empty parts left out). */
export function summarizeSizes(layers: readonly (Bytes & { createdBy: string; packages: Map<string, number> })[], baseLayers: number): ImageSizes {
  const order: ImagePart[] = ["base image", "system packages", "torch stack", "packages", "app", "other"];
  const byPart = new Map<ImagePart, Bytes>();
  const packages = new Map<string, number>();
  layers.forEach((layer, i) => {
    const part = partOf(layer.createdBy, i, baseLayers);
    const sum = byPart.get(part) ?? { unpacked: 0, compressed: 0 };
    byPart.set(part, { unpacked: sum.unpacked + layer.unpacked, compressed: sum.compressed + layer.compressed });
    if (part === "torch stack" || part === "packages") for (const [name, bytes] of layer.packages) packages.set(name, (packages.get(name) ?? 0) + bytes);
  });
  return {
    unpacked: layers.reduce((n, l) => n + l.unpacked, 0),
    compressed: layers.reduce((n, l) => n + l.compressed, 0),
    parts: order.filter((part) => byPart.has(part)).map((part) => ({ part, ...byPart.get(part)! })),
    layers: layers.map(({ unpacked, compressed, createdBy }) => ({ unpacked, compressed, createdBy })),
    largestPackages: [...packages]
      .map(([name, unpacked]) => ({ name, unpacked }))
      .sort((a, b) => b.unpacked - a.unpacked)
      .slice(0, 5),
  };
}

/**
 * "opt/venv/lib/python3.11/site-packages/torch/lib/x.so" → "torch", and its
 * "torch-2.1.2+cpu.dist-info/RECORD" → "torch" too; undefined outside site-packages.
 */
export function sitePackage(path: string): string | undefined {
  const match = /(?:^|\/)site-packages\/([^/]+)\//.exec(path.replace(/^\.\//, ""));
  return match?.[1].replace(/-[^-]+\.(dist|egg)-info$/, "");
}

/** Measures one layer blob as it streams past: both sizes, and what its files are under site-packages. */
class LayerMeter implements LayerMeasure {
  unpacked = 0;
  compressed = 0;
  readonly packages = new Map<string, number>();
  private readonly files = new TarScanner(() => false);
  private zlib?: zlib.Gzip | zlib.Gunzip;
  private gzipped?: boolean;

  /** Settles once the chunk has been through zlib, so a fast `docker save` cannot outrun it. */
  write(chunk: Buffer): Promise<void> {
    if (this.gzipped === undefined) {
      this.gzipped = chunk[0] === 0x1f && chunk[1] === 0x8b;
      this.zlib = this.gzipped ? zlib.createGunzip() : zlib.createGzip();
      this.zlib.on("data", (out: Buffer) => {
        if (this.gzipped) this.unpackedBytes(out);
        else this.compressed += out.length;
      });
    }
    if (this.gzipped) this.compressed += chunk.length;
    else this.unpackedBytes(chunk);
    return new Promise((resolve, reject) => this.zlib!.write(chunk, (error) => (error ? reject(error) : resolve())));
  }

  async end(): Promise<void> {
    if (!this.zlib) return;
    this.zlib.end();
    await once(this.zlib, "end");
    for (const entry of this.files.entries) {
      const name = entry.type === "0" ? sitePackage(entry.name) : undefined;
      if (name) this.packages.set(name, (this.packages.get(name) ?? 0) + entry.size);
    }
  }

  private unpackedBytes(chunk: Buffer): void {
    this.unpacked += chunk.length;
    this.files.push(chunk);
  }
}

/** What one layer measures to: a function of its content alone. */
export interface LayerMeasure extends Bytes {
  packages: Map<string, number>;
}

/**
 * Layer measures kept by the digest of the layer's blob ("sha256:…"), so that each layer is
 * unpacked once: after a code change, only the new layers of a multi-gigabyte image are.
 */
export interface LayerMeasures {
  get(digest: string): LayerMeasure | undefined;
  set(digest: string, measure: LayerMeasure): void;
}

/** The digest a `docker save` entry is named by: the containerd store's OCI layout names blobs so, Docker 20.10's layer.tar is not. */
function blobDigest(name: string): string | undefined {
  const match = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
  return match ? `sha256:${match[1]}` : undefined;
}

/**
 * Streams `docker save ref` once and measures every layer, but for those `known` has measured
 * before, whose bytes only pass by. `baseRef` is the image the runtime stage starts from: its
 * layers are the "base image" part.
 */
export async function measureImage(docker: Docker, ref: string, baseRef: string | undefined, signal?: AbortSignal, known?: LayerMeasures): Promise<ImageSizes> {
  const meters = new Map<string, LayerMeter | LayerMeasure>();
  let pending: Promise<void> = Promise.resolve();
  const consumer: EntryConsumer = {
    // Layers: Docker 20.10's "<id>/layer.tar", every blob of the containerd store's OCI layout
    // (its configs and manifests are measured too, and then not used: they are a few kB).
    wants: (entry: TarEntry) => {
      if (entry.type !== "0" || !(entry.name.endsWith("/layer.tar") || entry.name.startsWith("blobs/"))) return false;
      const digest = blobDigest(entry.name);
      const remembered = digest ? known?.get(digest) : undefined;
      meters.set(entry.name, remembered ?? new LayerMeter());
      return !remembered;
    },
    data: (entry, chunk) => {
      const meter = meters.get(entry.name) as LayerMeter;
      const copy = Buffer.from(chunk);
      pending = pending.then(() => meter.write(copy));
    },
    end: (entry) => {
      const meter = meters.get(entry.name) as LayerMeter;
      const digest = blobDigest(entry.name);
      pending = pending.then(async () => {
        await meter.end();
        if (digest) known?.set(digest, { unpacked: meter.unpacked, compressed: meter.compressed, packages: meter.packages });
      });
    },
  };
  // Keep every small file: the manifest, and the image config (its name is known only from the manifest, which comes last).
  const archive = new TarScanner((name, size) => name === "manifest.json" || size < 1024 * 1024, consumer);
  const saved = await docker.consumeStdout(["save", ref], (chunk) => archive.push(chunk), { signal, awaitEach: () => pending });
  await pending;
  if (saved.code !== 0) throw new Error(`docker save ${ref} failed: ${saved.stderr.trim()}`);

  const manifestText = archive.files.get("manifest.json");
  if (!manifestText) throw new Error(`docker save ${ref}: the archive has no manifest.json`);
  const [manifest] = JSON.parse(manifestText.toString("utf8")) as { Config: string; Layers: string[] }[];
  const configText = archive.files.get(manifest.Config);
  if (!configText) throw new Error(`docker save ${ref}: the image config ${manifest.Config} is not in the archive`);
  const config = JSON.parse(configText.toString("utf8")) as { history?: { created_by?: string; empty_layer?: boolean }[] };
  const history = (config.history ?? []).filter((h) => !h.empty_layer).map((h) => h.created_by ?? "");
  const byName = new Map(archive.entries.map((e) => [e.name, e]));
  const layers = manifest.Layers.map((name, i) => {
    const meter = meters.get(resolveLink(name, byName));
    if (!meter) throw new Error(`docker save ${ref}: layer ${name} was not measured`);
    return { unpacked: meter.unpacked, compressed: meter.compressed, packages: meter.packages, createdBy: history[i] ?? "" };
  });
  const baseLayers = baseRef ? ((await docker.inspect<string[] | null>(".RootFS.Layers", baseRef).catch(() => null))?.length ?? 0) : 0;
  return summarizeSizes(layers, baseLayers);
}
