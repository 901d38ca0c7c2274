import type { BuildPlan } from "../plan.ts";
import { generatedHeader } from "./header.ts";

/**
 * docker/Dockerfile.dockerignore: BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile
 * in preference to the context's .dockerignore, so the rules travel with our Dockerfile and the
 * IOPaint checkout stays untouched.
 */
export function emitIgnore(plan: BuildPlan): string {
  return `${generatedHeader("#", plan.configFile, "npm run generate")}${plan.ignore.join("\n")}\n`;
}
