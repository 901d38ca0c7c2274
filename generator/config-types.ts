// Generated from config/schema.json by generator/ — do not edit by hand.
// Change the config and run `npm run generate`; `npm run check` fails while this file is stale.

/** config/iopaint.toml: the one file maintainers edit. `npm run generate` compiles it into docker-bake.hcl and docker/Dockerfile. */
export interface Config {
  /** The published image: its name and OCI labels. */
  image: {
    /** Image repository, optionally with a registry (ghcr.io/you/iopaint). The bake variable IOPAINT_IMAGE overrides it without an edit. */
    name: string;
    /** org.opencontainers.image.title */
    title: string;
    /** org.opencontainers.image.description */
    description: string;
    /** org.opencontainers.image.source: where the application's source lives. */
    source: string;
    /** org.opencontainers.image.licenses, as an SPDX expression. */
    licenses: string;
  };
  /** The IOPaint checkout the images are built from (never PyPI's iopaint). */
  source: {
    /** Path of the IOPaint checkout (the build context), relative to the directory bake runs in. Inside that directory, buildx 0.20 and later read it without an --allow=fs.read grant. The bake variable IOPAINT_SRC overrides it without an edit. */
    path: string;
    /** The checkout's pip requirements file, relative to the checkout. */
    requirements: string;
    /** What building the checkout's package needs (its PEP 517 build backend). The default is what pip's build isolation fetches for a project with a setup.py and no pyproject.toml, as IOPaint 1.6.0 is. The builder installs these once, from the lock when there is one, outside the image's virtualenv; the app is then built with --no-build-isolation and --no-index, so a code change fetches nothing. */
    build_requires: string[];
    /** Directories of the installed package, as they are imported (iopaint/model), that the runtime image adds as layers of their own, in this order, below the rest of the app's code. A change elsewhere in the code then rebuilds and re-ships only that rest and the package's record; a change inside one of them ships it and the layers above it. List the directories that change least first. The built UI (frontend.copy_to) can be one. The build stops if one is not a directory of the installed package. */
    code_layers: string[];
  };
  /** Every pinned version in one table; variants refer to it. Checked against generator/compat/table.json. */
  versions: {
    /** CPython minor version the images run (the base image must provide it). */
    python: string;
    /** torch release, installed from PyTorch's wheel index for each variant's build. */
    torch: string;
    /** torchvision release; must be the one built for the torch release. */
    torchvision: string;
    /** xformers release for variants with xformers = true; must be built for the torch release and CUDA build. */
    xformers?: string;
    /** PyTorch CUDA build tag used by variants with torch_build = "cuda". */
    cuda: string;
    /** pip release installed into the builder's virtualenv before anything else (the base image's own may be too old: Ubuntu 22.04 has 22.0.2). Unset: the newest pip 22.2 or later. The runtime image keeps no pip. */
    pip?: string;
    /** uv release the builder installs with when python.installer = "uv" (from python.index_url, hash-checked where a lock holds it); it stays in the builder stages, never in the runtime image. */
    uv?: string;
  };
  /** Package indexes the builder installs from, and the installer it uses. */
  python: {
    /** What installs the resolved packages into the image: pip, or uv (versions.uv; often faster). An unlocked build resolves with pip either way; npm run lock resolves with the installer (uv: every platform the variant lists, in one build without emulation). The pins and locks hold, and the runtime image has neither. */
    installer: "pip" | "uv";
    /** Index for requirements.txt, the extra packages and the build tools (pip's --index-url): PyPI or a mirror of it. The bake variable IOPAINT_PIP_INDEX_URL overrides it without an edit. */
    index_url: string;
    /** Index for torch, torchvision and xformers; {build} becomes cpu or the CUDA tag (cu118). The bake variable IOPAINT_TORCH_INDEX_URL overrides it without an edit (with {build} in it, for every variant). */
    torch_index_url: string;
  };
  /** Package mirrors for the build, each optional: where the front end's npm ci and the apt-get steps fetch from instead of the public servers (pip's indexes are in [python]). A mirror is a build setting, never a secret: the image's labels never carry it. Each has a bake variable that overrides it without an edit. */
  mirrors: {
    /** npm registry for the front end's npm ci (the lock file's registry.npmjs.org URLs are fetched from it). Empty: npm's default. The bake variable IOPAINT_NPM_REGISTRY overrides it. */
    npm_registry: string;
    /** Debian archive mirror for the apt-get steps of the system and python stages when the base image is Debian: the base's release suite and <suite>-updates, component main, are read from it instead of the base image's sources, and only during those steps (the runtime image keeps the base image's sources). Empty: the base image's sources. The bake variable IOPAINT_DEBIAN_MIRROR overrides it. */
    debian: string;
    /** Ubuntu archive mirror, the same for Ubuntu base images (the CUDA images): the release suite, <suite>-updates and <suite>-security, components main and universe. The bake variable IOPAINT_UBUNTU_MIRROR overrides it. */
    ubuntu: string;
  };
  /** The web UI build: runs in its own stage on the build platform, shared by every variant. */
  frontend: {
    /** Node.js image for the build stage only (Node 18 or later); it never reaches the runtime image. */
    image: string;
    /** npm project inside the checkout. */
    dir: string;
    /** npm script that builds the UI (npm run <build_script>). */
    build_script: string;
    /** Build output directory, relative to dir. */
    output: string;
    /** Where the built UI goes in the checkout before the package is installed (the Python package serves it from there). */
    copy_to: string;
  };
  /** How the runtime image starts and whom it runs as. */
  runtime: {
    /** Non-root user the service runs as. */
    user: string;
    /** Its UID (build arg APP_UID overrides); match it to a host user for bind mounts. */
    uid: number;
    /** Its GID (build arg APP_GID overrides). */
    gid: number;
    /** Working directory of the service. */
    workdir: string;
    /** Volumes owned by the service user. */
    volumes: string[];
    /** How long compose waits after SIGTERM. */
    stop_grace_period: string;
    /** Start-up defaults: each becomes an environment variable (MODEL, HOST, PORT, MODEL_DIR, OUTPUT_DIR) that `docker run -e` overrides; arguments after the image name override both. */
    defaults: {
      /** --model */
      model: string;
      /** --host (0.0.0.0 so the published port answers) */
      host: string;
      /** --port, also EXPOSEd */
      port: number;
      /** --model-dir */
      model_dir: string;
      /** --output-dir */
      output_dir: string;
    };
    /** Docker HEALTHCHECK: an HTTP GET from inside the container. */
    healthcheck: {
      /** Route that answers once the model is loaded. */
      path: string;
      /** Time between checks. */
      interval: string;
      /** How long one check may take. */
      timeout: string;
      /** Grace time for the first model download and load. */
      start_period: string;
      /** Time between checks during the start period, so that a server that is up in a second is healthy in a second. Set in docker/compose.yaml (Compose 2.20+ on Docker 25+; older engines ignore it), not in the Dockerfile, which Docker 20.10 must still parse; `docker run` users pass --health-start-interval. */
      start_interval: string;
      /** Failures in a row before the container is unhealthy. */
      retries: number;
    };
  };
  /** What of the checkout is sent to the builder. */
  context: {
    /** Ignore rules (.dockerignore syntax), written to docker/Dockerfile.dockerignore. */
    exclude: string[];
  };
  /** Image variants, by name (cpu, gpu). */
  variants: Record<string, Variant>;
  /** Bake targets, by name: one per variant and stage. Tags are <image>:<target>-latest and <image>:<target>-<IOPAINT_VERSION>. */
  targets: Record<string, Target>;
  /** Bake groups, by name: lists of targets. `default` is what `docker buildx bake` builds with no target. */
  groups: Record<string, string[]>;
  /** Escape hatches for the compatibility check. */
  compat: {
    /** Accept torch/xformers releases missing from generator/compat/table.json (warned, not checked). Mismatches among listed releases stay errors. */
    allow_unlisted_versions: boolean;
  };
}

export interface Variant {
  description: string;
  /** Runtime base image; the Python stages start from it too, so the virtualenv matches. It must provide python<versions.python> or install it through runtime_packages. */
  base_image: string;
  /** Which PyTorch build: cpu, or cuda (the versions.cuda tag). */
  torch_build: "cpu" | "cuda";
  /** Default --device of the image (env DEVICE overrides). */
  device: "cpu" | "cuda";
  /** Install versions.xformers from the same index (CUDA builds only). */
  xformers: boolean;
  /** Platforms published with IOPAINT_PLATFORMS=release. Local builds use the builder's own platform. */
  platforms: string[];
  /** Debian/Ubuntu packages the service needs at run time (installed only when missing from the base). */
  runtime_packages: string[];
  /** Packages only the Python stages need (compilers, venv); never in the runtime image. */
  build_packages: string[];
  /** Python packages installed beside requirements.txt, under the same torch pins. The default is IOPaint 1.6.0's plugin set (what `iopaint install-plugins-packages` installs, and the old images had), so that `--enable-remove-bg` and AnyText's OCR work; [] for a slimmer image without them. */
  extra_python_packages: string[];
  /** Largest acceptable runtime image, e.g. 3GB (decimal) or 2.5GiB: its unpacked size (the layers' uncompressed bytes, what a pull unpacks onto disk). Add ' compressed' (1.2GB compressed) to limit the gzip-compressed size a registry stores and Docker Hub shows instead. */
  size_budget: string;
}

export interface Target {
  /** Name of a variant. */
  variant: string;
  /** runtime: the minimal service image. development: the builder with the app installed, build tools and the source, run as root. */
  stage: "runtime" | "development";
  description?: string;
}
