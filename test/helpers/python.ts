import type { TestEngine } from "./engine.ts";

/**
 * What an image's Python has installed: PEP 503 name → version, from the interpreter's own
 * importlib.metadata (the runtime image keeps no pip to ask).
 */
export async function installedDistributions(docker: TestEngine, image: string): Promise<Map<string, string>> {
  const script = "import importlib.metadata as m; print('\\n'.join(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()))";
  const listed = (await docker.docker(["run", "--rm", "--entrypoint", "python", image, "-c", script])).stdout;
  return new Map(
    String(listed)
      .trim()
      .split("\n")
      .map((line) => line.split("=="))
      .map(([name, version]) => [name.toLowerCase().replace(/[-_.]+/g, "-"), version]),
  );
}
