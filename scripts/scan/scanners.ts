import { isExecutable as executable, onPath } from "../on-path.ts";

/** The scanners `npm run scan` knows, in the order it prefers them. */
export const SCANNERS = ["trivy", "grype"] as const;
export type ScannerName = (typeof SCANNERS)[number];

/** Where users get each one (their own install pages), for the message when none is found. */
export const INSTALL_DOCS: Record<ScannerName, string> = {
  trivy: "https://trivy.dev/latest/getting-started/installation/",
  grype: "https://github.com/anchore/grype#installation",
};

export interface FoundScanner {
  name: ScannerName;
  path: string;
}

/**
 * Pure apart from the `isExecutable` probe: the first scanner on PATH, in SCANNERS order (or
 * only `only` when the user asked for one). PATH is searched as a shell would, so a test can
 * hand it a PATH with neither.
 */
export function findScanner(path: string | undefined, only?: ScannerName, isExecutable: (file: string) => boolean = executable): FoundScanner | undefined {
  for (const name of only ? [only] : SCANNERS) {
    const file = onPath(name, path, isExecutable);
    if (file) return { name, path: file };
  }
  return undefined;
}

/**
 * Pure: the scanner's arguments for one local image, failing (exit 1) on HIGH or CRITICAL
 * findings. Both are told to read the image from the Docker daemon only: by default they fall
 * back to a registry, and `iopaint:cpu-latest` missing locally would then scan whatever a public
 * registry serves under that name.
 *   trivy: https://trivy.dev/latest/docs/references/configuration/cli/trivy_image/
 *   grype: https://github.com/anchore/grype#supported-sources and its --fail-on option
 */
export function scanArgs(scanner: ScannerName, image: string): string[] {
  switch (scanner) {
    case "trivy":
      return ["image", "--exit-code", "1", "--severity", "HIGH,CRITICAL", "--image-src", "docker", image];
    case "grype":
      return [`docker:${image}`, "--fail-on", "high"];
  }
}
