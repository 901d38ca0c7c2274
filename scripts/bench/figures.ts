/**
 * What the bench measures, as plain data: the I/O side (phases.ts) fills it in, the pure side
 * (goals.ts, report.ts) judges and prints it. Times are wall seconds from performance.now().
 */

/** One `docker build`, as its BuildKit progress output and the clock tell it. */
export interface BuildSample {
  seconds: number;
  /** Dockerfile steps (FROM excluded), each counted once. */
  steps: { total: number; cached: number; executed: number };
  /** Executed steps by stage name ("frontend", "system", "builder", "app", "runtime", …). */
  executedByStage: Record<string, number>;
  /** How many times the front end's build script (`npm run …`) ran. */
  frontendBuilds: number;
  /** Build context BuildKit reported sending. */
  contextBytes: number;
  /** BuildKit's times of the dependency stages' steps that ran, summed. */
  dependencySeconds: number;
  /** BuildKit's time exporting the image (compressing and writing its layers). */
  exportSeconds: number;
}

export interface ImageSample extends BuildSample {
  /** `docker image inspect` .Size: every layer, uncompressed. */
  imageBytes: number;
}

export interface RebuildSample extends BuildSample {
  /** Layers of the new image that the previous image did not have, as `docker save` holds them (scripts/docker/tar-scan.ts). */
  newLayerBytes: number;
  newLayers: number;
}

export const REBUILD_KINDS = ["unchanged", "python", "frontend", "requirements"] as const;
export type RebuildKind = (typeof REBUILD_KINDS)[number];

/** The two ways a build runs: `docker buildx bake` on the newest engine, the runner's fallback on Docker 20.10. */
export const BUILD_PATHS = ["buildx", "fallback"] as const;

/** What the bench builds: the bundled fixture app, or IOPaint 1.6.0's real packages from PyPI (--real). */
export type SubjectKind = "fixture" | "real";

/** A package the real run's requirements.txt edit adds, with its wheel's size (what the new layers are held to). */
export interface AddedPackage {
  name: string;
  version: string;
  wheelBytes: number;
}

/** What installs the Python packages (python.installer). */
export type Installer = "pip" | "uv";
export type BuildPath = (typeof BUILD_PATHS)[number];

/** What each build path measures the same way, so that its ratios compare like with like. */
export interface PathFigures {
  /** Our cpu image from the generated files, --no-cache, once per repeat (the config's installer, pip). */
  cold: BuildSample[];
  /** The same with python.installer = "uv" (the PYTHON_INSTALLER build arg), once per repeat. */
  coldUv: BuildSample[];
  /** Warm rebuilds after each kind of change, once per repeat. */
  rebuilds: Record<RebuildKind, RebuildSample[]>;
  variants: {
    /** cpu and gpu, each from a cold cache (--no-cache), one after the other. */
    separate: { cpu: BuildSample; gpu: BuildSample };
    /** cpu and gpu in one invocation from a cold cache (--no-cache), as `npm run bake -- all` runs them on that path. */
    together: { cpu: BuildSample; gpu: BuildSample; seconds: number; frontendBuilds: number };
  };
}

/** Figures of the phases a run measured (`--path` leaves out the other path's; `--real` leaves out the fixture's own phases). */
export interface Figures {
  /** What was built; on the real packages, the package each requirements.txt rebuild added, by repeat. */
  subject: { kind: SubjectKind; added: AddedPackage[] };
  paths: Partial<Record<BuildPath, PathFigures>>;
  /** Fallback engine: the old single-stage way (scripts/bench/baseline.Dockerfile), --no-cache, and our cold cpu image beside it. */
  size?: { baseline: ImageSample; oursBytes: number };
  context?: {
    /** Bytes of .git, node_modules, venv and build output added to the checkout. */
    paddingBytes: number;
    withRules: number;
    withoutRules: number;
  };
  /**
   * The cpu image started on the newest engine (Docker 28) with a 1 s health start interval, as
   * docker/compose.yaml starts it: seconds from `docker run` until the port answers, and until
   * Docker reports it healthy. Once per repeat.
   */
  readiness?: { portSeconds: number; healthySeconds: number }[];
  /**
   * A cold CI runner, on the newest engine through `docker buildx bake cpu`: the cold build
   * (--no-cache) exporting its cache to a directory, then, on an emptied builder each time, the
   * build importing it with nothing changed and after a .py edit, once per repeat.
   */
  coldRunner?: { cold: BuildSample; unchanged: BuildSample[]; python: BuildSample[] };
  /** Each variant built cold twice on the newest engine (OCI output, rewrite-timestamp): the two manifest digests. */
  reproducible?: Record<string, { digests: string[] }>;
  compiler: {
    /** `npm run generate` wall times. */
    generateSeconds: number[];
    /** In-process parse + compile times, first (cold) run included. */
    compileMs: number[];
  };
  /** BuildKit cache the run left in each engine (growth of `docker system df`'s build cache; negative where the run pruned it). */
  cacheBytes: Partial<Record<"legacy" | "newest", number>>;
}

/** The stages whose steps a code-only change must leave alone (docker/Dockerfile's system and Python dependency stages). */
export const DEPENDENCY_STAGES = ["system", "python", "resolve", "torch", "packages", "additions", "venv", "builder"] as const;
export const FRONTEND_STAGE = "frontend";
