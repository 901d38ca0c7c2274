/**
 * The SBOM generator image the tests give IOPAINT_SBOM_GENERATOR: sbom-scanner.py (BuildKit's
 * SBOM generator protocol, Debian and Python packages) on the python stand-in, pushed to the
 * engine's registry, where any builder resolves it as it would docker/buildkit-syft-scanner from
 * Docker Hub. buildx's default scanner cannot be used here: no image can be pulled, and its Go
 * module (github.com/docker/buildkit-syft-scanner) is not served by the module proxy.
 */
import fs from "node:fs";
import path from "node:path";
import { Docker } from "../docker/docker.ts";
import type { Engine } from "../docker/engine.ts";
import { PYTHON_STANDIN } from "./base-images.ts";
import { engineStateRoot } from "./private-engine.ts";

export const SBOM_SCANNER = "iopaint-standin/sbom-scanner:1";

/** Builds the scanner image and pushes it to `registry` (127.0.0.1:5000); returns its reference there. */
export async function publishSbomScanner(engine: Engine, registry: string): Promise<string> {
  const docker = new Docker(engine);
  const ref = `${registry}/${SBOM_SCANNER}`;
  const context = fs.mkdtempSync(path.join(engineStateRoot(), "sbom-scanner-"));
  try {
    fs.copyFileSync(new URL("./sbom-scanner.py", import.meta.url), path.join(context, "scan.py"));
    const dockerfile = [`FROM ${PYTHON_STANDIN}`, "COPY scan.py /usr/local/bin/iopaint-sbom-scanner", 'ENTRYPOINT ["python3", "/usr/local/bin/iopaint-sbom-scanner"]', ""].join("\n");
    fs.writeFileSync(path.join(context, "Dockerfile"), dockerfile);
    await docker.check(["build", "--quiet", "--tag", ref, context], { env: { DOCKER_BUILDKIT: "1" } });
    await docker.check(["push", "--quiet", ref]);
    await docker.check(["image", "rm", ref]);
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
  return ref;
}
