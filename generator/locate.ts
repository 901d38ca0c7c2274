/**
 * Finds where a config path ("variants.gpu.base_image") is written in TOML text. A parsed TOML
 * document keeps no positions, so schema and compatibility errors find their line here instead.
 * It understands what config files use: [table] and [[array]] headers, bare, quoted and dotted
 * keys, and skips multi-line strings. Returns the deepest part of the path that it finds.
 */
export interface Position {
  line: number;
  column: number;
}

export function locateKey(text: string, path: string[]): Position | undefined {
  let table: string[] = [];
  let best: { depth: number; position: Position } | undefined;
  const consider = (keyPath: string[], position: Position) => {
    const depth = commonPrefix(keyPath, path);
    // A key counts only when all of it lies on the path (a sibling key is not a match).
    if (depth === keyPath.length && (!best || depth > best.depth)) best = { depth, position };
  };
  const lines = text.split(/\r?\n/);
  let inMultiline: string | undefined;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (inMultiline) {
      if (line.includes(inMultiline)) inMultiline = undefined;
      continue;
    }
    const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/.exec(line);
    if (header) {
      table = splitDotted(header[1]);
      consider(table, { line: index + 1, column: line.indexOf("[") + 1 });
      continue;
    }
    const assignment = /^(\s*)((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=(.*)$/.exec(line);
    if (assignment) {
      consider([...table, ...splitDotted(assignment[2])], { line: index + 1, column: assignment[1].length + 1 });
      const rest = assignment[3];
      for (const quote of ['"""', "'''"]) {
        const count = rest.split(quote).length - 1;
        if (count % 2 === 1) inMultiline = quote;
      }
    }
  }
  return best?.position;
}

function splitDotted(key: string): string[] {
  const parts: string[] = [];
  const pattern = /\s*("([^"]*)"|'([^']*)'|[^.\s"']+)\s*(\.|$)/gy;
  let match: RegExpExecArray | null;
  for (match = pattern.exec(key); match !== null && match[0] !== ""; match = pattern.exec(key)) {
    parts.push(match[2] ?? match[3] ?? match[1]);
  }
  return parts;
}

function commonPrefix(a: string[], b: string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
