import { CA_SECRET, HELPERS, LOCKS, locksDirOf, lockStage, RESOLVE_REPORTS, UNLOCKED_STAGE, type BuildArg, type BuildPlan, type PlannedVariant } from "../plan.ts";
import { dockerfileWord, jsonString } from "../quote.ts";
import { generatedHeader } from "./header.ts";

const VENV = "/opt/venv";
/** The packages beside the torch stack, installed into a prefix of their own: the runtime adds them as one layer. */
const PACKAGES_PREFIX = "/opt/packages";
/** With a lock: what requirements.txt gained since it was made, resolved against it, in a small layer of its own. */
const ADDITIONS_PREFIX = "/opt/additions";
const APP_PREFIX = "/opt/app";
/**
 * The app's *.dist-info, moved out of APP_PREFIX: its METADATA names requirements.txt's lines, so
 * apart from the code a requirements.txt change leaves the code's layer as it was.
 */
const APP_RECORD = "/opt/app-record";
/** source.code_layers, moved out of APP_PREFIX: APP_LAYERS/<dir>/ holds <dir> at its place under the prefix. */
const APP_LAYERS = "/opt/app-layers";
/** The tools that build the checkout's package: beside the virtualenv, so the runtime never has them. */
const BUILD_TOOLS = "/opt/build-tools";
const SRC = "/src";
const ENTRYPOINT = "/usr/local/bin/iopaint-entrypoint";
const HEALTHCHECK = "/usr/local/bin/iopaint-healthcheck";
const PIP_CACHE = "--mount=type=cache,id=iopaint-pip,target=/root/.cache/pip,sharing=locked";
const UV_CACHE = "--mount=type=cache,id=iopaint-uv,target=/root/.cache/uv,sharing=locked";
/** Where the python stage puts uv when python.installer = "uv": outside the virtualenv the runtime copies. docker/helpers/install.sh looks for it here. */
const UV_PREFIX = "/opt/uv";
/** The extra CA certificates, when the build was given some (IOPAINT_CA_CERT): a secret, so no layer holds them. */
const CA_MOUNT = `--mount=type=secret,id=${CA_SECRET}`;
const CA_FILE = `/run/secrets/${CA_SECRET}`;
/** docker/helpers/resolve.sh reads and writes these paths: the lock stages' files, pip's reports and requirements.txt. */
const LOCK_DIR = "/tmp/lock";
const REPORT_DIR = "/tmp/pip-report";
/** docker/helpers/uv-resolve.sh writes uv's locks here, a directory per machine. */
const UV_REPORT_DIR = "/tmp/uv-report";
const REQUIREMENTS = "/tmp/requirements.txt";
/** 1980-01-01, the earliest time a zip (a wheel) can hold. */
const BYTECODE_EPOCH = 315532800;

/**
 * A variant's lock stage: its lock (a file of the locks context) split into hash-checked requirement
 * files, one per install step (torch.txt, packages.txt, build.txt: nothing left to resolve), and the
 * inputs it was made from; or, without a lock, the unlocked stage under the variant's name (so
 * `FROM ${PYTHON_LOCK}` always resolves).
 */
function lockStageLines(variant: PlannedVariant, locksDir: string): string[] {
  const stage = lockStage(variant.name);
  const file = `${variant.name}.txt`;
  if (!variant.lock) return [`# ${stage}: no lock (${locksDir}/${file}); \`npm run lock -- ${variant.name}\` makes one.`, `FROM ${UNLOCKED_STAGE} AS ${stage}`];
  return [
    `# ${stage}: ${locksDir}/${file}, every distribution pinned with its sha256 (\`npm run lock -- ${variant.name}\`).`,
    `FROM python AS ${stage}`,
    `RUN --mount=type=bind,from=locks,source=${file},target=/tmp/locks/${file} \\`,
    `    ${helper("pins.py")} \\`,
    `    python /tmp/pins.py split /tmp/locks/${file} ${LOCK_DIR}`,
  ];
}

/** A helper script (docker/helpers/), mounted for one step at /tmp/<file>: it is run, never kept in a layer. */
function helper(file: string): string {
  return `--mount=type=bind,from=helpers,source=${file},target=/tmp/${file}`;
}

/** A RUN that reaches the indexes: the given download caches, the CA secret, with-pip-ca.sh and the helpers it runs. */
function indexStep(caches: string[], helpers: string[]): string[] {
  return [`RUN ${[...caches, CA_MOUNT].join(" ")} \\`, ...["with-pip-ca.sh", ...helpers].map((file) => `    ${helper(file)} \\`)];
}

/** A RUN that installs with pip: pip's download cache, the CA secret, with-pip-ca.sh and any other helpers it runs. */
function pipStep(...helpers: string[]): string[] {
  return indexStep([PIP_CACHE], helpers);
}

/** pip, trusting the build's extra CA certificates if it has any. */
const PIP = "sh /tmp/with-pip-ca.sh pip";

/**
 * A RUN that installs exactly a requirement file's releases with the chosen installer
 * (docker/helpers/install.sh: uv if the python stage installed it, else pip), from both indexes:
 * the download caches of both, the CA secret, and the helpers it runs.
 */
function installStep(...helpers: string[]): string[] {
  return indexStep([PIP_CACHE, UV_CACHE], ["install.sh", ...helpers]);
}

/** The install helper's command: `install [--prefix DIR | --target DIR] FILE`. */
const INSTALL = "sh /tmp/with-pip-ca.sh sh /tmp/install.sh";

/** apt-get for the packages in a build arg that the base lacks (docker/helpers/apt-install-missing.sh). */
function installMissingPackages(arg: BuildArg): string[] {
  return [`RUN ${CA_MOUNT} ${helper("apt-install-missing.sh")} \\`, `    sh /tmp/apt-install-missing.sh $${arg}`];
}

/**
 * docker/Dockerfile: one file for every variant; bake passes the variant's values as build args.
 * Stays within what Docker 20.10's built-in frontend parses (no `# syntax=`, no heredocs, no
 * COPY --link or --chmod), so builds need no registry beyond the base images and work offline
 * once cached. Shell logic lives in docker/helpers/, each script once, run by name.
 */
export function emitDockerfile(plan: BuildPlan): string {
  const { frontend, runtime, requirements, argDefaults } = plan.dockerfile;
  const arg = (name: BuildArg) => `ARG ${name}=${dockerfileWord(argDefaults[name])}`;
  // ARGs are per stage: every stage that runs pip declares both indexes.
  const indexArgs = [arg("PIP_INDEX_URL"), arg("TORCH_INDEX_URL")];
  const webDir = `${SRC}/${frontend.dir}`;
  const { user } = runtime;
  const health = runtime.healthcheck;
  const locked = plan.variants.some((variant) => variant.lock);
  const locksDir = locksDirOf(plan.configFile);
  const { codeLayers } = plan.dockerfile;
  // The app's code as the runtime adds it: each of source.code_layers, then the rest.
  const appCode = [...codeLayers.map((dir) => `${APP_LAYERS}/${dir}`), APP_PREFIX].map((from) => `COPY --from=app ${from}/ ${VENV}/`);
  const sections = [
    [
      "# Stages, in the order a change invalidates them (a stage is rebuilt when the stage it starts from is;",
      "# the line under each stage's title says what else rebuilds it):",
      `#   helpers      the scripts the steps run (${HELPERS.dir}/), never part of an image`,
      "#   frontend     the web UI, built once on the build platform and shared by every variant and platform",
      "#   system       the variant's base image plus its runtime system packages",
      "#   python       the variant's interpreter in a virtualenv with a pinned pip (and uv, if it installs), and its build packages",
      ...(locked ? [`#   locks        the variants' locks (${locksDir}/), never part of an image`] : []),
      `#   lock-<variant> what the builder installs: the variant's lock (${locksDir}/<variant>.txt), or \`${UNLOCKED_STAGE}\` pins`,
      "#   resolve      without a lock: the pins, the extra packages and requirements.txt resolved together, exact;",
      "#                with one: what requirements.txt gained since it, resolved with the lock held",
      "#   torch        the torch stack alone: a layer that a requirements.txt change leaves as it is",
      "#   packages     everything else (with a lock: the lock's), into a prefix of its own",
      "#   additions    with a lock, what requirements.txt gained since, into a small prefix of its own",
      "#   builder      the torch stack, packages and additions in one virtualenv, checked, and the build tools",
      "#   app          the checkout installed as a package, with the built UI inside: its code (in parts) and its record apart",
      "#   scripts      the entrypoint and health check, executable",
      "#   runtime      the service image: system + torch stack + packages + app; no pip, compilers, Node or caches",
      "#   development  builder + app + source, run as root, for debugging",
      "",
      "# Defaults are the default target's values; bake sets them all.",
      arg("NODE_IMAGE"),
      arg("BASE_IMAGE"),
      arg("PYTHON_LOCK"),
      `# ${HELPERS.dir}/ beside the checkout: \`docker buildx bake\` passes it as the named context`,
      `# ${HELPERS.context} (docker buildx build: --build-context ${HELPERS.context}=${HELPERS.dir}); the fallback`,
      "# for Docker 20.10, which has no named contexts, builds it into a local image and names it here.",
      `ARG ${HELPERS.imageArg}=${HELPERS.context}`,
      ...(locked ? [`# The locks (${locksDir}/) arrive the same way, as ${LOCKS.context}.`, `ARG ${LOCKS.imageArg}=${LOCKS.context}`] : []),
    ],
    [
      "# ---- helpers: the build's scripts, mounted into the steps that run them ----",
      "# Each step mounts only the script it runs: a changed script reruns those steps alone.",
      `FROM \${${HELPERS.imageArg}} AS helpers`,
    ],
    [
      "# ---- frontend: static files only, so one build serves cpu, gpu and every platform ----",
      "# Rebuilt when web_app/ changes; npm ci only when its package.json or package-lock.json does.",
      "FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS frontend",
      "ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false",
      `WORKDIR ${webDir}`,
      "# The manifest and lock file first: the install is reused until dependencies change.",
      `COPY ${frontend.dir}/package.json ${frontend.dir}/package-lock.json ./`,
      "# A mirror, if set, serves what the lock file names at registry.npmjs.org (npm's replace-registry-host).",
      arg("NPM_REGISTRY"),
      `RUN --mount=type=cache,id=iopaint-npm,target=/root/.npm,sharing=locked ${CA_MOUNT} \\`,
      `    if [ -f ${CA_FILE} ]; then export NODE_EXTRA_CA_CERTS=${CA_FILE}; fi; \\`,
      "    npm ci ${NPM_REGISTRY:+--registry=$NPM_REGISTRY}",
      `COPY ${frontend.dir}/ ./`,
      `RUN npm run ${frontend.buildScript}`,
    ],
    [
      "# ---- system: base image and runtime libraries, shared by builder and runtime ----",
      "# Rebuilt when the base image or the runtime packages change.",
      "# Only what the base lacks, through DEBIAN_MIRROR or UBUNTU_MIRROR if set; the image keeps the base's sources.",
      "FROM ${BASE_IMAGE} AS system",
      arg("RUNTIME_PACKAGES"),
      arg("DEBIAN_MIRROR"),
      arg("UBUNTU_MIRROR"),
      ...installMissingPackages("RUNTIME_PACKAGES"),
    ],
    [
      "# ---- python: the variant's interpreter in a virtualenv with a pinned pip, and its build packages ----",
      "# Rebuilt when the build packages, the Python version, the builder's pip or the installer (pip or uv) change.",
      "FROM system AS python",
      arg("BUILD_PACKAGES"),
      arg("DEBIAN_MIRROR"),
      arg("UBUNTU_MIRROR"),
      ...installMissingPackages("BUILD_PACKAGES"),
      arg("PYTHON_VERSION"),
      "# SOURCE_DATE_EPOCH (any value) makes Python write hash-checked .pyc files instead of ones that",
      "# carry the time of the install, so the same inputs give the same bytes. A constant, since",
      "# a changing one would invalidate every step below; the image's own timestamps come from the",
      "# SOURCE_DATE_EPOCH build arg that buildx passes from the environment (docs/reproducible.md).",
      `ENV SOURCE_DATE_EPOCH=${BYTECODE_EPOCH}`,
      `ENV PATH=${VENV}/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1`,
      "# The base's own pip may be old (Ubuntu 22.04's is 22.0.2, before --dry-run and --report): the pinned",
      "# one, hash-checked where a lock holds it (BUILDER_PIP is then `pip==X --hash=sha256:…`).",
      arg("PIP_INDEX_URL"),
      arg("BUILDER_PIP"),
      `RUN python\${PYTHON_VERSION} -m venv ${VENV}`,
      ...pipStep(),
      '    echo "$BUILDER_PIP" > /tmp/builder-pip.txt \\',
      ` && ${PIP} install --index-url "$PIP_INDEX_URL" -r /tmp/builder-pip.txt \\`,
      " && rm /tmp/builder-pip.txt",
      `# With python.installer = "uv", the pinned uv (hash-checked where a lock holds it) into ${UV_PREFIX}: the`,
      "# install steps below use it when it is there (docker/helpers/install.sh); the runtime never has it.",
      arg("PYTHON_INSTALLER"),
      arg("BUILDER_UV"),
      ...pipStep(),
      '    if [ "$PYTHON_INSTALLER" = uv ]; then \\',
      '      echo "$BUILDER_UV" > /tmp/builder-uv.txt \\',
      `   && ${PIP} install --index-url "$PIP_INDEX_URL" --prefix ${UV_PREFIX} -r /tmp/builder-uv.txt \\`,
      "   && rm /tmp/builder-uv.txt; \\",
      "    fi",
    ],
    [
      `# ---- locks: what the builder installs, as pip requirement files in ${LOCK_DIR} ----`,
      "# Rebuilt when the pins, the extra packages, the build requirements or a lock change.",
      `# ${UNLOCKED_STAGE}: the pins, the extra packages and the build requirements (with the builder's pip, and`,
      "# uv if it installs, without their hashes) as they are, for the resolve stage; set -f, since a",
      "# requirement such as rembg[cpu] is not a file pattern.",
      `FROM python AS ${UNLOCKED_STAGE}`,
      arg("TORCH_VERSION"),
      arg("TORCHVISION_VERSION"),
      arg("XFORMERS_VERSION"),
      arg("EXTRA_PYTHON_PACKAGES"),
      arg("BUILD_REQUIRES"),
      arg("BUILDER_PIP"),
      arg("PYTHON_INSTALLER"),
      arg("BUILDER_UV"),
      `RUN mkdir ${LOCK_DIR} \\`,
      ` && printf '%s\\n' "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \${XFORMERS_VERSION:+"xformers==$XFORMERS_VERSION"} > ${LOCK_DIR}/torch.txt \\`,
      ` && set -f && for requirement in $EXTRA_PYTHON_PACKAGES; do echo "$requirement"; done > ${LOCK_DIR}/extras.txt \\`,
      ` && for requirement in $BUILD_REQUIRES "\${BUILDER_PIP%% *}"; do echo "$requirement"; done > ${LOCK_DIR}/build.txt \\`,
      ` && if [ "$PYTHON_INSTALLER" = uv ]; then echo "\${BUILDER_UV%% *}" >> ${LOCK_DIR}/build.txt; fi`,
      ...(locked ? ["", `# locks: ${locksDir}/, as the named context ${LOCKS.context}; each lock stage mounts only its own file.`, `FROM \${${LOCKS.imageArg}} AS locks`] : []),
      ...plan.variants.flatMap((variant) => ["", ...lockStageLines(variant, locksDir)]),
    ],
    [
      "# ---- resolve: one resolve of everything, so that every package fits every other (pip check) ----",
      "# Rerun when requirements.txt or a lock stage changes; what it writes decides what the stages below install.",
      "# Without a lock: exact pins from pip's resolve, and the reports `npm run lock` reads. With one: nothing",
      "# to resolve, or after requirements.txt changed, what it needs beyond the lock, resolved with the lock",
      "# held (additions.txt). docker/helpers/resolve.sh says how.",
      "FROM ${PYTHON_LOCK} AS resolve",
      ...indexArgs,
      arg("EXTRA_PYTHON_PACKAGES"),
      `COPY ${requirements} ${REQUIREMENTS}`,
      ...pipStep("resolve.sh", "pins.py"),
      "    sh /tmp/with-pip-ca.sh sh /tmp/resolve.sh",
    ],
    [`# ---- ${RESOLVE_REPORTS.pip}: what the resolve chose, for \`npm run lock\` (never an image) ----`, `FROM scratch AS ${RESOLVE_REPORTS.pip}`, `COPY --from=resolve ${REPORT_DIR}/ /`],
    [
      `# ---- ${RESOLVE_REPORTS.uv}: with python.installer = "uv", what uv resolves for each machine in ${RESOLVE_REPORTS.uvMachinesArg}, for \`npm run lock\` ----`,
      "# Built on the builder's own platform: uv resolves for another with --python-platform, so an arm64",
      "# lock needs no emulation. PEP 751 locks, one directory per machine (docker/helpers/uv-resolve.sh). Never an image.",
      `FROM ${UNLOCKED_STAGE} AS uv-resolve`,
      ...indexArgs,
      `ARG ${RESOLVE_REPORTS.uvMachinesArg}=`,
      `COPY ${requirements} ${REQUIREMENTS}`,
      ...indexStep([UV_CACHE], ["uv-resolve.sh"]),
      `    sh /tmp/with-pip-ca.sh sh /tmp/uv-resolve.sh $${RESOLVE_REPORTS.uvMachinesArg}`,
      "",
      `FROM scratch AS ${RESOLVE_REPORTS.uv}`,
      `COPY --from=uv-resolve ${UV_REPORT_DIR}/ /`,
    ],
    [
      "# ---- torch: the torch stack alone, from exact pins; only a change of those rebuilds it ----",
      "# Rebuilt when torch.txt (the exact pins from the resolve or the lock) changes: COPY compares content.",
      "FROM python AS torch",
      ...indexArgs,
      arg("TORCH_VERSION"),
      arg("TORCHVISION_VERSION"),
      arg("XFORMERS_VERSION"),
      `COPY --from=resolve ${LOCK_DIR}/torch.txt ${LOCK_DIR}/torch.txt`,
      ...installStep("pins.py"),
      `    ${INSTALL} ${LOCK_DIR}/torch.txt \\`,
      ' && python /tmp/pins.py check "$TORCH_VERSION" "$TORCHVISION_VERSION" "$XFORMERS_VERSION"',
    ],
    [
      `# ---- packages: the rest, into ${PACKAGES_PREFIX}, which the runtime adds as one layer over the torch stack ----`,
      "# Rebuilt when packages.txt changes.",
      "FROM torch AS packages",
      ...indexArgs,
      `COPY --from=resolve ${LOCK_DIR}/packages.txt ${LOCK_DIR}/packages.txt`,
      ...installStep(),
      `    ${INSTALL} --prefix ${PACKAGES_PREFIX} ${LOCK_DIR}/packages.txt`,
    ],
    [
      `# ---- additions: with a lock, what requirements.txt gained since, into ${ADDITIONS_PREFIX} (empty otherwise) ----`,
      "# Rebuilt when additions.txt changes; the torch stack and packages stay as they are.",
      "FROM python AS additions",
      ...indexArgs,
      `COPY --from=resolve ${LOCK_DIR}/additions.txt ${LOCK_DIR}/additions.txt`,
      ...installStep(),
      `    mkdir -p ${ADDITIONS_PREFIX} \\`,
      ` && if [ -s ${LOCK_DIR}/additions.txt ]; then \\`,
      `      ${INSTALL} --prefix ${ADDITIONS_PREFIX} ${LOCK_DIR}/additions.txt; \\`,
      "    fi",
    ],
    [
      "# ---- builder: the whole virtualenv, checked, and what builds the checkout's package ----",
      "# Rebuilt when the additions or build.txt change.",
      "FROM packages AS builder",
      ...indexArgs,
      `COPY --from=resolve ${LOCK_DIR}/build.txt ${LOCK_DIR}/build.txt`,
      `COPY --from=additions ${ADDITIONS_PREFIX} ${ADDITIONS_PREFIX}`,
      "# The build tools (source.build_requires) are installed once here instead of by pip's build",
      "# isolation at each code change, and kept out of the virtualenv the runtime copies.",
      ...installStep(),
      `    cp -a ${PACKAGES_PREFIX}/. ${ADDITIONS_PREFIX}/. ${VENV}/ \\`,
      " && pip check \\",
      ` && ${INSTALL} --target ${BUILD_TOOLS} ${LOCK_DIR}/build.txt`,
    ],
    [
      "# ---- venv: the runtime's virtualenv under the packages: the torch stack without pip or setuptools ----",
      "# Nothing but the torch stage rebuilds it.",
      "FROM torch AS venv",
      "# Unless the torch stack itself needs one of them (then it is in torch.txt).",
      `RUN for tool in pip setuptools wheel; do grep -qi "^$tool==" ${LOCK_DIR}/torch.txt || echo "$tool"; done > /tmp/tools \\`,
      ` && python -m pip uninstall --yes --quiet $(cat /tmp/tools) \\`,
      ` && rm -rf ${LOCK_DIR} /tmp/tools`,
    ],
    [
      "# ---- app: the checkout, with the built UI where the package serves it from ----",
      "# Rebuilt when a file of the checkout that Dockerfile.dockerignore lets in changes, or the front end does.",
      "FROM builder AS app",
      `COPY . ${SRC}`,
      `COPY --from=frontend ${webDir}/${frontend.output} ${SRC}/${frontend.copyTo}`,
      "# A PEP 517 build with the builder's build tools, no build isolation and no index: a code change",
      "# runs this step alone and fetches nothing. Into a prefix of its own, then split for the runtime's",
      `# layers (${HELPERS.dir}/split-app.sh): the record (*.dist-info) into ${APP_RECORD}, each of`,
      `# source.code_layers into ${APP_LAYERS}/<dir>, the rest of the code left in place. With a fixed hash`,
      "# seed the same code compiles to the same bytes, so a part whose files did not change keeps its",
      "# layer (after a requirements.txt change, every part but the record).",
      `RUN ${helper("split-app.sh")} \\`,
      `    PYTHONPATH=${BUILD_TOOLS} PYTHONHASHSEED=0 pip install --no-index --no-deps --no-build-isolation --use-pep517 --prefix=${APP_PREFIX} ${SRC} \\`,
      ` && sh /tmp/split-app.sh ${[APP_PREFIX, APP_RECORD, APP_LAYERS, ...codeLayers].join(" ")}`,
    ],
    [
      "# ---- scripts: the entrypoint and health check, executable (COPY --chmod needs a newer frontend than Docker 20.10's) ----",
      "# Rebuilt when docker/helpers/entrypoint.sh or healthcheck.sh changes.",
      "FROM ${BASE_IMAGE} AS scripts",
      `COPY --from=helpers entrypoint.sh ${ENTRYPOINT}`,
      `COPY --from=helpers healthcheck.sh ${HEALTHCHECK}`,
      `RUN chmod 0755 ${ENTRYPOINT} ${HEALTHCHECK}`,
    ],
    [
      "# ---- runtime: the service image ----",
      "# Each COPY below is a layer rebuilt only when what it copies changes.",
      "FROM system AS runtime",
      arg("APP_UID"),
      arg("APP_GID"),
      `RUN groupadd --non-unique --gid "$APP_GID" ${user} \\`,
      ` && useradd --non-unique --uid "$APP_UID" --gid "$APP_GID" --create-home --shell /usr/sbin/nologin ${user} \\`,
      ` && mkdir -p ${[runtime.workdir, ...runtime.volumes].join(" ")} \\`,
      ` && chown "$APP_UID:$APP_GID" ${[runtime.workdir, ...runtime.volumes].join(" ")}`,
      `COPY --from=scripts ${ENTRYPOINT} ${HEALTHCHECK} /usr/local/bin/`,
      "# Ordered so that a change touches small layers alone: the torch stack (gigabytes, changed only",
      "# with its pins), the other packages (with a lock, changed only with it), the app's code (each of",
      "# source.code_layers, then the rest), what requirements.txt gained beyond the lock, the app's record",
      "# (a code change and an added package both touch it; an added package leaves the code as it was).",
      `COPY --from=venv ${VENV} ${VENV}`,
      `COPY --from=packages ${PACKAGES_PREFIX}/ ${VENV}/`,
      ...appCode,
      `COPY --from=additions ${ADDITIONS_PREFIX}/ ${VENV}/`,
      `COPY --from=app ${APP_RECORD}/ ${VENV}/`,
      ...serviceEnvironment(plan, arg("DEVICE")),
      `WORKDIR ${runtime.workdir}`,
      `VOLUME [${runtime.volumes.map(jsonString).join(", ")}]`,
      `EXPOSE ${runtime.port}`,
      "USER ${APP_UID}:${APP_GID}",
      `HEALTHCHECK --interval=${health.interval} --timeout=${health.timeout} --start-period=${health.startPeriod} --retries=${health.retries} \\`,
      `    CMD [${jsonString(HEALTHCHECK)}, ${jsonString(health.path)}]`,
      `ENTRYPOINT [${jsonString(ENTRYPOINT)}]`,
    ],
    [
      "# ---- development: build tools, pip and the source, as root ----",
      "# Rebuilt when the app changes.",
      "FROM builder AS development",
      `COPY --from=scripts ${ENTRYPOINT} ${HEALTHCHECK} /usr/local/bin/`,
      ...appCode,
      `COPY --from=app ${APP_RECORD}/ ${VENV}/`,
      `COPY --from=app ${SRC} ${SRC}`,
      ...serviceEnvironment(plan, arg("DEVICE")),
      `WORKDIR ${SRC}`,
      `EXPOSE ${runtime.port}`,
      `ENTRYPOINT [${jsonString(ENTRYPOINT)}]`,
    ],
  ];
  return `${generatedHeader("#", plan.configFile, "npm run generate")}\n${sections.map((lines) => lines.join("\n")).join("\n\n")}\n`;
}

function serviceEnvironment(plan: BuildPlan, deviceArg: string): string[] {
  const env = plan.dockerfile.runtime.env;
  return [
    deviceArg,
    `ENV PATH=${VENV}/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \\`,
    `    ${Object.entries(env)
      .map(([k, v]) => `${k}=${dockerfileWord(v)}`)
      .join(" ")} DEVICE=$DEVICE`,
  ];
}
