import { posix } from "node:path";
import type { Config, Variant } from "./config-types.ts";
import { fail } from "./errors.ts";
import { sha256Of, type LockInputs, type PythonLock } from "./lock.ts";

/**
 * The build plan: every value the emitters write, decided once. Emitters only format it; the
 * bake runner and `npm run print` resolve it for a set of bake variables.
 */
export interface BuildPlan {
  /** The config this plan came from, as named in generated headers. */
  configFile: string;
  variables: PlanVariable[];
  /** OCI and project labels shared by every image. Values may reference bake variables via `variableLabels`. */
  labels: Record<string, string>;
  /** Labels whose value is a bake variable (name of the variable). */
  variableLabels: Record<string, string>;
  /** Build args shared by every variant (their config values; see `argVariables`). */
  args: Record<CommonArg, string>;
  /** Common args that a bake variable sets (its default is the arg's config value), by arg name. */
  argVariables: Partial<Record<CommonArg, string>>;
  variants: PlannedVariant[];
  targets: PlannedTarget[];
  groups: { name: string; targets: string[] }[];
  dockerfile: DockerfilePlan;
  ignore: string[];
}

export interface PlanVariable {
  name: string;
  default: string;
  comment: string;
  /**
   * The only values that mean something, for an enumerated variable. The bake file's comment
   * names them and the runner refuses any other (bake itself would ignore it without a word).
   */
  allowed?: readonly string[];
}

export interface PlannedVariant {
  name: string;
  description: string;
  device: "cpu" | "cuda";
  releasePlatforms: string[];
  sizeBudget: string;
  sizeBudgetBytes: number;
  /** Which size the budget limits: the layers' uncompressed bytes, or gzip-compressed as a registry stores them. */
  sizeBudgetMeasure: "unpacked" | "compressed";
  args: Record<VariantArg, string>;
  /** The variant's PyTorch build: "cpu" or the CUDA tag; {build} in IOPAINT_TORCH_INDEX_URL becomes it. */
  torchBuild: string;
  labels: Record<string, string>;
  /** Its Python lock (locks/<variant>.txt beside the config), when it has one: the builder installs exactly that. */
  lock?: PythonLock;
}

export interface PlannedTarget {
  name: string;
  description: string;
  variant: string;
  stage: "runtime" | "development";
}

/** What the Dockerfile template needs beyond build args: fixed paths and runtime settings. */
export interface DockerfilePlan {
  requirements: string;
  /** Directories of the installed package that the runtime adds as layers of their own, bottom first (source.code_layers). */
  codeLayers: string[];
  frontend: { dir: string; buildScript: string; output: string; copyTo: string };
  runtime: {
    user: string;
    workdir: string;
    volumes: string[];
    port: number;
    stopGracePeriod: string;
    env: Record<string, string>;
    healthcheck: { path: string; interval: string; timeout: string; startPeriod: string; startInterval: string; retries: number };
  };
  /** Args the Dockerfile declares with defaults (the default target's variant), so a plain `docker build` works. */
  argDefaults: Record<BuildArg, string>;
}

/**
 * Every build arg of the Dockerfile, in one place: the plan must set each (a missing one fails to
 * compile), the Dockerfile emitter declares them by these names, and whatever reads a resolved
 * target's args (preflight, the bench) names them through this type.
 */
export const COMMON_ARGS = [
  "NODE_IMAGE",
  "PYTHON_VERSION",
  "BUILDER_PIP",
  "PYTHON_INSTALLER",
  "BUILDER_UV",
  "PIP_INDEX_URL",
  "NPM_REGISTRY",
  "DEBIAN_MIRROR",
  "UBUNTU_MIRROR",
  "TORCH_VERSION",
  "TORCHVISION_VERSION",
  "BUILD_REQUIRES",
  "APP_UID",
  "APP_GID",
] as const;
export const VARIANT_ARGS = ["BASE_IMAGE", "TORCH_INDEX_URL", "XFORMERS_VERSION", "RUNTIME_PACKAGES", "BUILD_PACKAGES", "EXTRA_PYTHON_PACKAGES", "DEVICE", "PYTHON_LOCK"] as const;
export type CommonArg = (typeof COMMON_ARGS)[number];
export type VariantArg = (typeof VARIANT_ARGS)[number];
export type BuildArg = CommonArg | VariantArg;

/** The bake variables (docker-bake.hcl `variable` blocks), which the environment overrides. */
export const VARIABLES = {
  version: "IOPAINT_VERSION",
  revision: "IOPAINT_REVISION",
  source: "IOPAINT_SRC",
  image: "IOPAINT_IMAGE",
  platforms: "IOPAINT_PLATFORMS",
  cache: "IOPAINT_CACHE",
  cacheRef: "IOPAINT_CACHE_REF",
  provenance: "IOPAINT_PROVENANCE",
  sbom: "IOPAINT_SBOM",
  sbomGenerator: "IOPAINT_SBOM_GENERATOR",
  pipIndex: "IOPAINT_PIP_INDEX_URL",
  torchIndex: "IOPAINT_TORCH_INDEX_URL",
  npmRegistry: "IOPAINT_NPM_REGISTRY",
  debianMirror: "IOPAINT_DEBIAN_MIRROR",
  ubuntuMirror: "IOPAINT_UBUNTU_MIRROR",
  caCert: "IOPAINT_CA_CERT",
} as const;

/** The BuildKit secret that carries an extra CA certificate to the network steps (IOPAINT_CA_CERT, --ca-cert). */
export const CA_SECRET = "iopaint-ca";

/** In IOPAINT_TORCH_INDEX_URL (and the config's torch_index_url): each variant's PyTorch build. */
export const TORCH_BUILD_PLACEHOLDER = "{build}";

/** The one Dockerfile: the bake file points at it (cwd://) and compile writes it (OUTPUT_FILES). */
export const DOCKERFILE = "docker/Dockerfile";

/**
 * The hand-written scripts the build runs (docker/helpers/: the entrypoint, the health check, the
 * apt and pip helpers). They reach the build beside the checkout: bake passes the directory as the
 * named context `iopaint-helpers`; Docker 20.10's docker build has no named contexts, so the
 * fallback builds the directory into a local image first and names it in HELPERS_IMAGE.
 */
export const HELPERS = { dir: "docker/helpers", context: "iopaint-helpers", imageArg: "HELPERS_IMAGE" } as const;

/**
 * The variants' locks (locks/<variant>.txt beside the config) reach the build the same way, as the
 * named context `iopaint-locks`, once any variant has one: each lock stage mounts its own file, so
 * a refreshed lock reruns only its variant's steps, and the Dockerfile holds no pins.
 */
export const LOCKS = { context: "iopaint-locks", imageArg: "LOCKS_IMAGE" } as const;

/** The build's named contexts, each replacing a `FROM ${imageArg}` stage; the fallback passes each as a local image. */
export const NAMED_CONTEXTS = [HELPERS, LOCKS] as const;

/**
 * Pure: the locks' directory as bake reads it, relative to where it runs: `locks` beside the config
 * as the generated headers name it (config/locks in the repository). Compile writes the locks
 * there too: in the repository they are their own output; for a config outside the output
 * directory, they are copied beside the generated files, as the helpers are.
 */
export function locksDirOf(configFile: string): string {
  return configFile.startsWith("/") ? "locks" : posix.join(posix.dirname(configFile), "locks");
}

/** The Dockerfile stage a variant's builder starts from: its lock's files (generator/emit/dockerfile.ts). */
export function lockStage(variant: string): string {
  return `lock-${variant}`;
}

/** The stage that ignores any lock and lets pip resolve (`npm run lock` builds through it). */
export const UNLOCKED_STAGE = "unlocked";

/**
 * The targets `npm run lock` builds, never images: pip's reports of the resolve stage (one build per
 * platform, on that platform), and with python.installer = "uv" uv's PEP 751 locks for every
 * machine named in the build arg (one build on the builder's own platform).
 */
export const RESOLVE_REPORTS = { pip: "pip-report", uv: "uv-report", uvMachinesArg: "LOCK_MACHINES" } as const;

/** Pure: a validated, compatible config (and the locks found beside it) to the plan. */
export function planBuild(config: Config, configFile: string, locks: Record<string, PythonLock> = {}): BuildPlan {
  const variants = Object.entries(config.variants).map(([name, variant]) => ({ ...planVariant(name, variant, config), ...(locks[name] ? { lock: locks[name] } : {}) }));
  const targets = Object.entries(config.targets).map(([name, target]) => ({
    name,
    description: target.description ?? `${config.variants[target.variant].description} (${target.stage})`,
    variant: target.variant,
    stage: target.stage,
  }));
  const defaultTarget = config.groups.default?.[0] ?? targets[0].name;
  const defaultVariant = variants.find((v) => v.name === config.targets[defaultTarget]?.variant) ?? variants[0];
  const args: Record<CommonArg, string> = {
    NODE_IMAGE: config.frontend.image,
    PYTHON_VERSION: config.versions.python,
    BUILDER_PIP: config.versions.pip ? builderTool("pip", config.versions.pip, Object.values(locks)) : "pip>=22.2",
    PYTHON_INSTALLER: config.python.installer,
    BUILDER_UV: config.versions.uv ? builderTool("uv", config.versions.uv, Object.values(locks)) : "",
    PIP_INDEX_URL: config.python.index_url,
    NPM_REGISTRY: config.mirrors.npm_registry,
    DEBIAN_MIRROR: config.mirrors.debian,
    UBUNTU_MIRROR: config.mirrors.ubuntu,
    TORCH_VERSION: config.versions.torch,
    TORCHVISION_VERSION: config.versions.torchvision,
    BUILD_REQUIRES: config.source.build_requires.join(" "),
    APP_UID: String(config.runtime.uid),
    APP_GID: String(config.runtime.gid),
  };
  const { defaults, healthcheck } = config.runtime;
  return {
    configFile,
    variables: [
      { name: VARIABLES.version, default: "", comment: `Release of the checkout: adds <image>:<target>-<version> beside <image>:<target>-latest, e.g. ${VARIABLES.version}=1.6.0.` },
      { name: VARIABLES.revision, default: "", comment: "Source revision for the org.opencontainers.image.revision label, e.g. the checkout's git commit." },
      {
        name: VARIABLES.source,
        default: config.source.path,
        comment: "The IOPaint checkout to build (the build context), relative to where bake runs; a path outside that directory needs --allow=fs.read=PATH on buildx 0.20 and later.",
      },
      { name: VARIABLES.image, default: config.image.name, comment: "Image repository, with a registry when pushing (ghcr.io/you/iopaint)." },
      {
        name: VARIABLES.platforms,
        default: "",
        allowed: ["", "release"],
        comment:
          'Empty: the builder\'s own platform (loadable into `docker images`); a variant that lists one platform always builds for it (gpu: linux/amd64). "release": every platform the variant lists (needs a docker-container builder and --push).',
      },
      {
        name: VARIABLES.cache,
        default: "",
        allowed: ["", "gha", "registry", "local"],
        comment:
          'Shared build cache: "" (the builder\'s own only), "gha", "registry" or "local" (ref or directory in IOPAINT_CACHE_REF). Each variant keeps its own scope. Export needs a builder that can (the containerd image store or a docker-container builder).',
      },
      { name: VARIABLES.cacheRef, default: "", comment: "Registry repository (ghcr.io/you/iopaint-cache) or local directory (.cache/buildx) for IOPAINT_CACHE." },
      { name: VARIABLES.pipIndex, default: config.python.index_url, comment: "Index for requirements.txt, the extra packages and the build tools: PyPI or a mirror of it." },
      {
        name: VARIABLES.torchIndex,
        default: config.python.torch_index_url,
        comment: `Index for torch, torchvision and xformers; ${TORCH_BUILD_PLACEHOLDER} becomes each variant's build (cpu, ${config.versions.cuda}).`,
      },
      { name: VARIABLES.npmRegistry, default: config.mirrors.npm_registry, comment: "npm registry for the front end's npm ci; empty: npm's default (registry.npmjs.org)." },
      {
        name: VARIABLES.debianMirror,
        default: config.mirrors.debian,
        comment: "Debian mirror for the apt-get steps on Debian bases (release suite and -updates, main); empty: the base image's sources. The runtime image keeps the base's sources.",
      },
      {
        name: VARIABLES.ubuntuMirror,
        default: config.mirrors.ubuntu,
        comment: "Ubuntu mirror for the apt-get steps on Ubuntu bases (release, -updates and -security suites, main and universe); empty: the base image's sources.",
      },
      {
        name: VARIABLES.caCert,
        default: "",
        comment: `A PEM file of extra CA certificates (a TLS-inspecting proxy's, an internal mirror's) that npm, pip and apt trust during the build; passed as the BuildKit secret ${CA_SECRET}, so no layer holds it.`,
      },
      {
        name: VARIABLES.provenance,
        default: "auto",
        allowed: ["auto", "min", "max", "false"],
        comment:
          'Provenance attestation attached to each image (SLSA, made by BuildKit itself, offline): "auto" (buildx\'s default: mode=min where the builder can store attestations, none on the docker driver with the classic image store), "min", "max" (adds the build args and every step), or "false" for none (registry UIs list an attestation as an "unknown/unknown" platform).',
      },
      {
        name: VARIABLES.sbom,
        default: "false",
        allowed: ["false", "true"],
        comment: `"true" attaches an SBOM attestation (SPDX) to each image: BuildKit runs an SBOM generator image over the image's file system, as buildx's --sbom=true does. The builder must store attestations, like provenance.`,
      },
      {
        name: VARIABLES.sbomGenerator,
        default: "",
        comment: "The SBOM generator image for IOPAINT_SBOM=true; empty: buildx's default (docker/buildkit-syft-scanner).",
      },
    ],
    labels: {
      "org.opencontainers.image.title": config.image.title,
      "org.opencontainers.image.description": config.image.description,
      "org.opencontainers.image.source": config.image.source,
      "org.opencontainers.image.licenses": config.image.licenses,
    },
    variableLabels: {
      "org.opencontainers.image.version": VARIABLES.version,
      "org.opencontainers.image.revision": VARIABLES.revision,
    },
    args,
    argVariables: { PIP_INDEX_URL: VARIABLES.pipIndex, NPM_REGISTRY: VARIABLES.npmRegistry, DEBIAN_MIRROR: VARIABLES.debianMirror, UBUNTU_MIRROR: VARIABLES.ubuntuMirror },
    variants,
    targets,
    groups: Object.entries(config.groups).map(([name, members]) => ({ name, targets: members })),
    dockerfile: {
      requirements: config.source.requirements,
      codeLayers: config.source.code_layers,
      frontend: { dir: config.frontend.dir, buildScript: config.frontend.build_script, output: config.frontend.output, copyTo: config.frontend.copy_to },
      runtime: {
        user: config.runtime.user,
        workdir: config.runtime.workdir,
        volumes: config.runtime.volumes,
        port: defaults.port,
        stopGracePeriod: config.runtime.stop_grace_period,
        env: {
          MODEL: defaults.model,
          HOST: defaults.host,
          PORT: String(defaults.port),
          MODEL_DIR: defaults.model_dir,
          OUTPUT_DIR: defaults.output_dir,
        },
        healthcheck: {
          path: healthcheck.path,
          interval: healthcheck.interval,
          timeout: healthcheck.timeout,
          startPeriod: healthcheck.start_period,
          startInterval: healthcheck.start_interval,
          retries: healthcheck.retries,
        },
      },
      argDefaults: { ...args, ...defaultVariant.args },
    },
    ignore: config.context.exclude,
  };
}

/**
 * A tool the builder installs before anything else (its pip; uv, as python.installer), as a
 * requirement line: the release pinned, with the sha256 of every file of it that a lock holds
 * (their build sections: pip is one pure-Python wheel; uv has one wheel per platform, any of
 * which passes). Unpinned, pip is 22.2 or later, which brought the --dry-run and --report that
 * the resolve stage uses. (Not PIP_*: pip reads those from the environment as its own options,
 * and build args are in the environment.)
 */
function builderTool(name: string, version: string, locks: PythonLock[]): string {
  const hashes = locks.flatMap((lock) => lock.sections.build).flatMap((d) => (d.name === name && d.version === version ? d.hashes : []));
  return [`${name}==${version}`, ...[...new Set(hashes)].sort().map((hash) => `--hash=${hash}`)].join(" ");
}

function planVariant(name: string, variant: Variant, config: Config): PlannedVariant {
  const build = variant.torch_build === "cuda" ? config.versions.cuda : "cpu";
  const xformers = variant.xformers ? (config.versions.xformers ?? "") : "";
  return {
    name,
    description: variant.description,
    device: variant.device,
    releasePlatforms: variant.platforms,
    sizeBudget: variant.size_budget,
    sizeBudgetBytes: parseSize(variant.size_budget.replace(/ compressed$/, "")),
    sizeBudgetMeasure: variant.size_budget.endsWith(" compressed") ? "compressed" : "unpacked",
    args: {
      BASE_IMAGE: variant.base_image,
      TORCH_INDEX_URL: config.python.torch_index_url.replaceAll(TORCH_BUILD_PLACEHOLDER, build),
      XFORMERS_VERSION: xformers,
      RUNTIME_PACKAGES: variant.runtime_packages.join(" "),
      BUILD_PACKAGES: variant.build_packages.join(" "),
      EXTRA_PYTHON_PACKAGES: variant.extra_python_packages.join(" "),
      DEVICE: variant.device,
      PYTHON_LOCK: lockStage(name),
    },
    torchBuild: build,
    labels: {
      "io.iopaint.variant": name,
      "io.iopaint.torch": `${config.versions.torch}+${build}`,
      ...(xformers ? { "io.iopaint.xformers": xformers } : {}),
    },
  };
}

/**
 * The planned variant behind each bake target, by target name: the runner joins it to the
 * targets bake resolved once, so a target's device and size budget travel with it.
 */
export function variantsByTarget(plan: BuildPlan): Record<string, PlannedVariant> {
  const byName = new Map(plan.variants.map((v) => [v.name, v]));
  return Object.fromEntries(plan.targets.map((t) => [t.name, byName.get(t.variant)!]));
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** "3GB" → 3e9 bytes (decimal units, as `docker images` shows), "2.5GiB" → binary. */
export function parseSize(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]+)$/.exec(text);
  if (!match || !(match[2] in UNITS)) fail({ kind: "schema", message: `cannot read size "${text}"`, hint: 'write it like "3GB" or "2.5GiB"' });
  return Math.round(Number(match[1]) * UNITS[match[2]]);
}

/** Decimal units (1 kB = 1000 B), as `docker images` shows sizes: "84.1MB" (the separator goes before the unit). */
export function formatSize(bytes: number, separator = ""): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) [value, unit] = [value / 1000, unit + 1];
  return `${value.toFixed(Math.abs(value) >= 100 || unit === 0 ? 0 : Math.abs(value) >= 10 ? 1 : 2)}${separator}${units[unit]}`;
}

/** Pure: the installers the lock's build section holds (`pip==X`, and `uv==Y` when it installs), as the unlocked stage lists them. */
function builderTools(args: Record<CommonArg, string>): string[] {
  return [args.BUILDER_PIP, ...(args.PYTHON_INSTALLER === "uv" ? [args.BUILDER_UV] : [])].map((line) => line.split(" ")[0]);
}

/**
 * Pure: the inputs a variant's lock is resolved from, as its header records them. Without the
 * checkout's requirements.txt (`npm run check` away from the checkout) that entry is left out.
 */
export function lockInputsOf(plan: BuildPlan, variant: PlannedVariant, requirementsText?: string | Uint8Array): Partial<LockInputs> {
  const { PYTHON_VERSION, TORCHVISION_VERSION } = plan.args;
  const xformers = variant.args.XFORMERS_VERSION || "none";
  return {
    ...(requirementsText !== undefined ? { requirements: sha256Of(requirementsText) } : {}),
    pins: `python ${PYTHON_VERSION}, torch ${variant.labels["io.iopaint.torch"]}, torchvision ${TORCHVISION_VERSION}, xformers ${xformers}`,
    extras: variant.args.EXTRA_PYTHON_PACKAGES || "none",
    build: [plan.args.BUILD_REQUIRES, ...builderTools(plan.args)].join(" "),
    platforms: variant.releasePlatforms.join(" "),
  };
}
