import table from "./table.json" with { type: "json" };

/** Shape of generator/compat/table.json: facts only, each release once, sources named in the file. */
export interface CompatTable {
  sources: { name: string; url: string; covers: string }[];
  cuda: Record<string, { version: string; runtimeImage: string }>;
  torch: Record<string, { torchvision: string; python: string[]; cuda: string[]; xformers: string[] }>;
  xformers: Record<string, { torch: string; cuda: string[] }>;
}

export const compatTable: CompatTable = table;

/** Compares dotted release numbers numerically ("2.10.0" > "2.9.1"); suffixes compare as text. */
export function compareReleases(a: string, b: string): number {
  const pa = a.split(/[.+]/);
  const pb = b.split(/[.+]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const [x, y] = [pa[i] ?? "", pb[i] ?? ""];
    const [nx, ny] = [Number(x), Number(y)];
    const diff = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (diff !== 0) return diff;
  }
  return 0;
}
