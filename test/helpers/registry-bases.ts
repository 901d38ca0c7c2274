import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CUDA_STANDIN, NODE_STANDIN, publishMultiPlatformPython, PYTHON_STANDIN } from "../../scripts/engine/base-images.ts";
import type { Emulation } from "../../scripts/engine/emulation.ts";
import { FIXTURE_CONFIG } from "./compile.ts";
import type { TestEngine } from "./engine.ts";

/**
 * The fixture's config for a builder that sees no image of the engine's store (a docker-container
 * or remote builder), written into a temp dir: every base from the engine's `registry`, as in CI
 * they come from Docker Hub. The python stand-in is one amd64 + arm64 index, or amd64 alone with
 * cpu released for amd64 only where `emulation` is not there; node and cuda are amd64.
 */
export async function registryBasesConfig(docker: TestEngine, registry: string, emulation: Emulation, name: string): Promise<string> {
  const pushed = async (local: string) => {
    const ref = `${registry}/${local}`;
    await docker.docker(["tag", local, ref]);
    await docker.docker(["push", "--quiet", ref]);
    await docker.docker(["image", "rm", ref]);
    return ref;
  };
  let text = await readFile(FIXTURE_CONFIG, "utf8");
  if (emulation.ok) text = text.replace(`base_image = "${PYTHON_STANDIN}"`, `base_image = "${(await publishMultiPlatformPython(docker.engine, registry, { log: () => {} })).ref}"`);
  else text = text.replace(`base_image = "${PYTHON_STANDIN}"`, `base_image = "${await pushed(PYTHON_STANDIN)}"`).replace('platforms = ["linux/amd64", "linux/arm64"]', 'platforms = ["linux/amd64"]');
  text = text.replace(`image = "${NODE_STANDIN}"`, `image = "${await pushed(NODE_STANDIN)}"`).replace(`base_image = "${CUDA_STANDIN}"`, `base_image = "${await pushed(CUDA_STANDIN)}"`);
  const file = join(await docker.tempDir(`iopaint-${name}-config-`), `iopaint.${name}.toml`);
  await writeFile(file, text);
  return file;
}
