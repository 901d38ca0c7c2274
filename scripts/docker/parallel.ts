/**
 * Running several docker commands at once, as the fallback builds independent targets: a bounded
 * pool, and a writer that keeps interleaved output readable by starting each line with its source.
 */

/**
 * Runs the tasks at most `limit` at a time, each started as soon as a slot frees, and resolves
 * with their results in the order given (a rejection rejects the whole, as Promise.all does).
 */
export async function runBounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  return results;
}

/**
 * Pure apart from `write`: passes a stream's text on with `prefix` before each line, holding a
 * partial line until its end arrives (or flush), so lines of two streams never mix.
 */
export function linePrefixer(prefix: string, write: (text: string) => void): { push(chunk: string): void; flush(): void } {
  let partial = "";
  return {
    push(chunk) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      if (lines.length) write(lines.map((line) => `${prefix}${line}\n`).join(""));
    },
    flush() {
      if (partial) write(`${prefix}${partial}\n`);
      partial = "";
    },
  };
}
