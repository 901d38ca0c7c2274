import type { BuildPlan, PlannedTarget } from "../plan.ts";
import { jsonString } from "../quote.ts";
import { VARIABLES } from "../plan.ts";
import { generatedHeader } from "./header.ts";

/**
 * docker/compose.yaml: one service per runtime target, each in a profile of its own name
 * (`docker compose --profile cpu up`). Same ports, volumes and variables as the images' defaults,
 * so existing compose habits keep working. GPU services reserve NVIDIA devices.
 */
export function emitCompose(plan: BuildPlan): string {
  const runtimeTargets = plan.targets.filter((t) => t.stage === "runtime");
  const volumeName = (path: string) => `iopaint-${path.split("/").filter(Boolean).pop()}`;
  const volumes = plan.dockerfile.runtime.volumes;
  const lines = [
    "# Build the images first (npm run bake -- all, or docker buildx bake all), then:",
    `#   docker compose -f docker/compose.yaml --profile ${runtimeTargets[0]?.name ?? "cpu"} up`,
    "name: iopaint",
    "services:",
    ...runtimeTargets.flatMap((target) => service(target, plan, volumeName)),
    "volumes:",
    ...volumes.map((path) => `  ${volumeName(path)}: {}`),
  ];
  return `${generatedHeader("#", plan.configFile, "npm run generate")}${lines.join("\n")}\n`;
}

function service(target: PlannedTarget, plan: BuildPlan, volumeName: (path: string) => string): string[] {
  const variant = plan.variants.find((v) => v.name === target.variant)!;
  const { env, port, volumes } = plan.dockerfile.runtime;
  const lines = [
    `  ${target.name}:`,
    `    image: ${jsonString(`\${${VARIABLES.image}:-${defaultOf(plan, VARIABLES.image)}}:${target.name}-\${${VARIABLES.version}:-latest}`)}`,
    `    profiles: [${jsonString(target.name)}]`,
    `    ports:`,
    `      - ${jsonString(`\${IOPAINT_PORT:-${port}}:${port}`)}`,
    `    environment:`,
    `      MODEL: ${jsonString(`\${MODEL:-${env.MODEL}}`)}`,
    `      DEVICE: ${jsonString(`\${DEVICE:-${variant.device}}`)}`,
    `      IOPAINT_ARGS: ${jsonString("${IOPAINT_ARGS:-}")}`,
    `    volumes:`,
    ...volumes.map((path) => `      - ${jsonString(`${volumeName(path)}:${path}`)}`),
    `    stop_grace_period: ${plan.dockerfile.runtime.stopGracePeriod}`,
    `    restart: unless-stopped`,
  ];
  if (variant.device === "cuda") {
    lines.push(
      "    deploy:",
      "      resources:",
      "        reservations:",
      "          devices:",
      "            - driver: nvidia",
      "              count: all",
      "              capabilities: [gpu]",
    );
  }
  return lines;
}

function defaultOf(plan: BuildPlan, name: string): string {
  return plan.variables.find((v) => v.name === name)?.default ?? "";
}
