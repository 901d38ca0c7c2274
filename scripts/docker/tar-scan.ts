/**
 * Pure: reads the headers of a tar stream as it passes (a `docker save` of an image is one),
 * keeping the contents of only the few small files asked for, and passing the data of the
 * entries asked for to a consumer (a layer's bytes, to measure them). Layer sizes come from
 * here: the Docker CLI shows no per-layer size. Docker 20.10 saves each layer as an
 * uncompressed tar; the containerd image store saves the gzip-compressed blobs it holds.
 */
export interface TarEntry {
  name: string;
  size: number;
  /** Tar type flag: "0" file, "2" symlink, "5" directory, … */
  type: string;
  linkName: string;
}

const BLOCK = 512;

/** Receives the data of the entries `wants` picked, chunk by chunk, then the end of each. */
export interface EntryConsumer {
  wants(entry: TarEntry): boolean;
  data(entry: TarEntry, chunk: Buffer): void;
  end(entry: TarEntry): void;
}

export class TarScanner {
  readonly entries: TarEntry[] = [];
  readonly files = new Map<string, Buffer>();
  private header = Buffer.alloc(0);
  /** Bytes of the current entry's data and padding still to pass. */
  private skip = 0;
  private capture?: { entry: TarEntry; chunks: Buffer[]; left: number; meta: boolean };
  /** The entry whose data goes to the consumer, and how many of its data bytes are still to come. */
  private feeding?: { entry: TarEntry; left: number };
  /** A PAX or GNU long-name header's values for the next entry. */
  private pending: { name?: string; size?: number; linkName?: string } = {};
  private ended = false;

  constructor(
    private readonly keep: (name: string, size: number) => boolean = () => false,
    private readonly consumer?: EntryConsumer,
  ) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0 && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, rest.length);
        if (this.capture && this.capture.left > 0) {
          const take = Math.min(this.capture.left, n);
          this.capture.chunks.push(Buffer.from(rest.subarray(0, take)));
          this.capture.left -= take;
        }
        if (this.feeding && this.feeding.left > 0) {
          const take = Math.min(this.feeding.left, n);
          this.consumer!.data(this.feeding.entry, rest.subarray(0, take));
          this.feeding.left -= take;
        }
        this.skip -= n;
        rest = rest.subarray(n);
        if (this.skip === 0) this.finishCapture();
        continue;
      }
      const need = BLOCK - this.header.length;
      this.header = Buffer.concat([this.header, rest.subarray(0, need)]);
      rest = rest.subarray(need);
      if (this.header.length === BLOCK) {
        const block = this.header;
        this.header = Buffer.alloc(0);
        this.readHeader(block);
      }
    }
  }

  private readHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const type = String.fromCharCode(block[156] || 0x30);
    const prefix = block.subarray(257, 262).toString("latin1") === "ustar" ? text(block, 345, 155) : "";
    const base = text(block, 0, 100);
    const entry: TarEntry = {
      name: this.pending.name ?? (prefix ? `${prefix}/${base}` : base),
      size: this.pending.size ?? octal(block.subarray(124, 136)),
      type,
      linkName: this.pending.linkName ?? text(block, 157, 100),
    };
    const meta = type === "x" || type === "g" || type === "L" || type === "K";
    if (!meta) this.pending = {};
    this.skip = Math.ceil(entry.size / BLOCK) * BLOCK;
    if (meta || this.keep(entry.name, entry.size)) this.capture = { entry, chunks: [], left: entry.size, meta };
    if (!meta && this.consumer?.wants(entry)) this.feeding = { entry, left: entry.size };
    if (!meta) this.entries.push(entry);
    if (this.skip === 0) this.finishCapture();
  }

  private finishCapture(): void {
    if (this.feeding) {
      this.consumer!.end(this.feeding.entry);
      this.feeding = undefined;
    }
    const capture = this.capture;
    if (!capture) return;
    this.capture = undefined;
    const data = Buffer.concat(capture.chunks);
    if (!capture.meta) {
      this.files.set(capture.entry.name, data);
      return;
    }
    if (capture.entry.type === "L") this.pending.name = cString(data);
    else if (capture.entry.type === "K") this.pending.linkName = cString(data);
    else if (capture.entry.type === "x") Object.assign(this.pending, paxRecords(data));
  }
}

function text(block: Buffer, start: number, length: number): string {
  return cString(block.subarray(start, start + length));
}

function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.subarray(0, end < 0 ? data.length : end).toString("utf8");
}

function octal(field: Buffer): number {
  // Sizes over 8 GiB use GNU base-256: the high bit of the first byte set, big-endian after it.
  if (field[0] & 0x80) return [...field.subarray(1)].reduce((n, b) => n * 256 + b, field[0] & 0x7f);
  const digits = field
    .toString("latin1")
    .replace(/[\0 ]+$/g, "")
    .trim();
  return digits ? Number.parseInt(digits, 8) : 0;
}

/** "27 path=some/long/name\n" records. */
function paxRecords(data: Buffer): { name?: string; size?: number; linkName?: string } {
  const out: { name?: string; size?: number; linkName?: string } = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(at, space).toString("latin1"), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, at + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    const [key, value] = [record.slice(0, eq), record.slice(eq + 1)];
    if (key === "path") out.name = value;
    else if (key === "size") out.size = Number(value);
    else if (key === "linkpath") out.linkName = value;
    at += length;
  }
  return out;
}

/**
 * Pure: the size of each layer of a `docker save` archive, by the layer's diff ID: uncompressed
 * from Docker 20.10's store, the gzip blob from the containerd image store (which saves what it holds).
 * `diffIds` is the image's .RootFS.Layers, in the same order as the manifest's Layers. A layer
 * saved twice appears once, the second time as a symlink to the first.
 */
export function layerSizesFromSave(scanner: TarScanner, diffIds: readonly string[]): Map<string, number> {
  const manifestText = scanner.files.get("manifest.json");
  if (!manifestText) throw new Error("docker save: the archive has no manifest.json");
  const manifest = JSON.parse(manifestText.toString("utf8")) as { Layers: string[] }[];
  const layers = manifest[0]?.Layers ?? [];
  if (layers.length !== diffIds.length) throw new Error(`docker save: ${layers.length} layers in the manifest, ${diffIds.length} in the image`);
  const byName = new Map(scanner.entries.map((e) => [e.name, e]));
  const sizeOf = (name: string): number => {
    const entry = byName.get(resolveLink(name, byName));
    if (!entry) throw new Error(`docker save: ${name} is not in the archive`);
    return entry.size;
  };
  return new Map(layers.map((name, i) => [diffIds[i], sizeOf(name)]));
}

/** Pure: the layers of `after` that `before` did not have, and their bytes. */
export function newLayers(before: readonly string[], after: readonly string[], sizes: ReadonlyMap<string, number>): { count: number; bytes: number } {
  const had = new Set(before);
  const added = [...new Set(after.filter((id) => !had.has(id)))];
  return { count: added.length, bytes: added.reduce((sum, id) => sum + (sizes.get(id) ?? Number.NaN), 0) };
}

/** Docker 20.10 saves a layer two images share once, the second time as a symlink to the first: the entry a name ends at. */
export function resolveLink(name: string, byName: ReadonlyMap<string, TarEntry>, depth = 0): string {
  const entry = byName.get(name);
  if (entry?.type !== "2" || depth > 8) return name;
  const dir = name.split("/").slice(0, -1);
  const parts: string[] = [];
  for (const part of entry.linkName.startsWith("/") ? entry.linkName.slice(1).split("/") : [...dir, ...entry.linkName.split("/")]) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  const target = parts.join("/");
  return resolveLink(target, byName, depth + 1);
}
