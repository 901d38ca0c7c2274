import type { BuildPlan, PlannedTarget } from "../plan.ts";
import { jsonString } from "../quote.ts";
import { VARIABLES } from "../plan.ts";
import { generatedHeader } from "./header.ts";

/**
 * docker/compose.yaml: one service per runtime target, each in a profile of its own name
 * (`docker compose --profile cpu up`). Same port, volumes and environment variables as the
 * images' defaults, so the habits of `docker run` users carry over. GPU services reserve NVIDIA
 * devices.
 *
 * It is for Compose v2 (the tests run 2.26 and 2.40): `healthcheck.start_interval` needs 2.20+
 * (an engine older than 25 ignores it). The top-level `name` is the image's name, so the project
 * is not called after the file's directory (`docker`); the volumes carry fixed names of their own
 * and keep their data whatever the project is called. There is no `build:` section: the images
 * come from docker-bake.hcl (the one build contract), and Compose resolves a relative `dockerfile`
 * against the context, which is the IOPaint checkout, not this repository. `pull_policy` is
 * `never` by default, so `up` before a build says the image is missing instead of trying to pull
 * a public `iopaint` image; IOPAINT_PULL_POLICY=missing pulls an IOPAINT_IMAGE pushed elsewhere.
 */
export function emitCompose(plan: BuildPlan): string {
  const runtimeTargets = plan.targets.filter((t) => t.stage === "runtime");
  const volumes = plan.dockerfile.runtime.volumes;
  const lines = [
    "# Build the images first (npm run bake -- all, or docker buildx bake all), then from the repository root:",
    `#   docker compose -f docker/compose.yaml --profile ${runtimeTargets[0]?.name ?? "cpu"} up -d`,
    "# Settings, all optional: MODEL, DEVICE, PORT (inside the container), IOPAINT_ARGS (extra flags),",
    "# IOPAINT_PORT (on the host), IOPAINT_IMAGE, IOPAINT_VERSION (which image), IOPAINT_PULL_POLICY",
    "# (never by default: the images are built here; missing pulls a pushed IOPAINT_IMAGE), and",
    `# ${volumes.map(volumeVariable).join(", ")} (a volume name, or an absolute host path to bind-mount).`,
    `name: ${jsonString(projectName(defaultOf(plan, VARIABLES.image)))}`,
    "services:",
    ...runtimeTargets.flatMap((target) => service(target, plan)),
    "volumes:",
    ...volumes.flatMap((path) => [`  ${volumeName(path)}:`, `    name: ${jsonString(volumeName(path))}`]),
  ];
  return `${generatedHeader("#", plan.configFile, "npm run generate")}${lines.join("\n")}\n`;
}

/** "ghcr.io/you/iopaint" → "iopaint": a Compose project name (lower-case letters, digits, dashes and underscores). */
function projectName(image: string): string {
  return (
    (image.split("/").pop() ?? "iopaint")
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, "-")
      .replace(/^[^a-z0-9]+/, "") || "iopaint"
  );
}

/** "/app/models" → "iopaint-models": the named volume that holds it by default. */
function volumeName(path: string): string {
  return `iopaint-${lastSegment(path)}`;
}

/** "/app/models" → "IOPAINT_MODELS": where a user puts a host path to bind-mount instead. */
function volumeVariable(path: string): string {
  return `IOPAINT_${lastSegment(path)
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, "_")}`;
}

function lastSegment(path: string): string {
  return path.split("/").filter(Boolean).pop() ?? "data";
}

function service(target: PlannedTarget, plan: BuildPlan): string[] {
  const variant = plan.variants.find((v) => v.name === target.variant)!;
  const { env, port, volumes } = plan.dockerfile.runtime;
  // The container port follows PORT, as the entrypoint does, so `PORT=9000` alone moves both ends.
  const containerPort = `\${PORT:-${port}}`;
  const lines = [
    `  ${target.name}:`,
    `    image: ${jsonString(`\${${VARIABLES.image}:-${defaultOf(plan, VARIABLES.image)}}:${target.name}-\${${VARIABLES.version}:-latest}`)}`,
    `    pull_policy: ${jsonString("${IOPAINT_PULL_POLICY:-never}")}`,
    `    profiles: [${jsonString(target.name)}]`,
    `    ports:`,
    `      - ${jsonString(`\${IOPAINT_PORT:-${port}}:${containerPort}`)}`,
    `    environment:`,
    `      MODEL: ${jsonString(`\${MODEL:-${env.MODEL}}`)}`,
    `      DEVICE: ${jsonString(`\${DEVICE:-${variant.device}}`)}`,
    `      PORT: ${jsonString(containerPort)}`,
    `      IOPAINT_ARGS: ${jsonString("${IOPAINT_ARGS:-}")}`,
    `    volumes:`,
    ...volumes.map((path) => `      - ${jsonString(`\${${volumeVariable(path)}:-${volumeName(path)}}:${path}`)}`),
    // The image's HEALTHCHECK stays as it is (the daemon fills what is not set here from it); only
    // the start interval, which Docker 20.10 could not parse in a Dockerfile, is added here.
    `    healthcheck:`,
    `      start_period: ${plan.dockerfile.runtime.healthcheck.startPeriod}`,
    `      start_interval: ${plan.dockerfile.runtime.healthcheck.startInterval}`,
    `    stop_grace_period: ${plan.dockerfile.runtime.stopGracePeriod}`,
    `    restart: unless-stopped`,
  ];
  if (variant.device === "cuda") {
    lines.push("    deploy:", "      resources:", "        reservations:", "          devices:", "            - driver: nvidia", "              count: all", "              capabilities: [gpu]");
  }
  return lines;
}

function defaultOf(plan: BuildPlan, name: string): string {
  return plan.variables.find((v) => v.name === name)?.default ?? "";
}
