/**
 * What the release tests read back from a registry: an image index as the registry holds it
 * (`docker buildx imagetools inspect --raw`, run inside the engine's namespace, where the
 * registry listens), its platform images and its attestation manifests.
 */
import type { TestEngine } from "./engine.ts";

export interface Descriptor {
  digest: string;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  mediaType: string;
  manifests: Descriptor[];
}

export async function rawIndex(docker: TestEngine, ref: string): Promise<ImageIndex> {
  return JSON.parse((await docker.docker(["buildx", "imagetools", "inspect", "--raw", ref], { inEngineNetwork: true })).stdout) as ImageIndex;
}

/** buildx stores each attestation as a manifest of the index with this annotation. */
export function isAttestation(descriptor: Descriptor): boolean {
  return descriptor.annotations?.["vnd.docker.reference.type"] === "attestation-manifest";
}

/** The index's platform images, as os/architecture, sorted. */
export function platformsOf(index: ImageIndex): string[] {
  return index.manifests
    .filter((d) => !isAttestation(d))
    .map((d) => `${d.platform?.os}/${d.platform?.architecture}`)
    .sort();
}
