import { LOCK_SECTIONS, sectionRequirements } from "../lock.ts";
import { CA_SECRET, lockStage, UNLOCKED_STAGE, type BuildArg, type BuildPlan, type PlannedVariant } from "../plan.ts";
import { dockerfileWord, jsonString, shellQuoted } from "../quote.ts";
import { generatedHeader } from "./header.ts";

/** The hand-written scripts that the Dockerfile carries (the build context is the IOPaint checkout, not this repo). */
export interface ContainerScripts {
  entrypoint: string;
  healthcheck: string;
}

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
/** The tools that build the checkout's package: beside the virtualenv, so the runtime never has them. */
const BUILD_TOOLS = "/opt/build-tools";
const SRC = "/src";
const ENTRYPOINT = "/usr/local/bin/iopaint-entrypoint";
const HEALTHCHECK = "/usr/local/bin/iopaint-healthcheck";
const PIP_CACHE = "--mount=type=cache,id=iopaint-pip,target=/root/.cache/pip,sharing=locked";
/** The extra CA certificates, when the build was given some (IOPAINT_CA_CERT): a secret, so no layer holds them. */
const CA_MOUNT = `--mount=type=secret,id=${CA_SECRET}`;
const CA_FILE = `/run/secrets/${CA_SECRET}`;
/** pip trusts one bundle: its own (certifi's) plus the extra CAs, here for one step and removed at its end. */
const PIP_CA_BUNDLE = "/tmp/iopaint-ca.pem";
/** The first lines of a pip step: its cache and, with extra CAs, PIP_CERT. The step ends with PIP_STEP_END. */
const PIP_STEP = [
  `RUN ${PIP_CACHE} ${CA_MOUNT} \\`,
  `    if [ -f ${CA_FILE} ]; then export PIP_CERT=${PIP_CA_BUNDLE}; cat "$(python -c 'import pip._vendor.certifi as c; print(c.where())')" ${CA_FILE} > "$PIP_CERT" || exit 1; fi; \\`,
];
const PIP_STEP_END = ` && rm -f ${PIP_CA_BUNDLE}`;
const LOCK_DIR = "/tmp/lock";
const REPORT_DIR = "/tmp/pip-report";
const REQUIREMENTS = "/tmp/requirements.txt";
/** A locked variant's recorded inputs, in the form the resolve stage writes the build's own (`requirements sha256:…`, `extras …`). */
const LOCKED_INPUTS = `${LOCK_DIR}/inputs.txt`;
/** Every pip step looks in both indexes: the resolve picks each file from one of them, and a lock's hashes hold for either. */
const INDEXES = '--index-url "$PIP_INDEX_URL" --extra-index-url "$TORCH_INDEX_URL"';
/** 1980-01-01, the earliest time a zip (a wheel) can hold. */
const BYTECODE_EPOCH = 315532800;

/**
 * A variant's lock stage: its lock's sections as hash-checked requirement files (torch.txt,
 * packages.txt, build.txt: nothing left to resolve), or, without a lock, the unlocked stage under
 * the variant's name (so `FROM ${PYTHON_LOCK}` always resolves).
 */
function lockStageLines(variant: PlannedVariant): string[] {
  const stage = lockStage(variant.name);
  if (!variant.lock) return [`# ${stage}: no lock (locks/${variant.name}.txt beside the config); \`npm run lock -- ${variant.name}\` makes one.`, `FROM ${UNLOCKED_STAGE} AS ${stage}`];
  const { sections, inputs } = variant.lock;
  const count = LOCK_SECTIONS.reduce((n, section) => n + sections[section].length, 0);
  const run = [
    `RUN mkdir ${LOCK_DIR} \\`,
    // What the resolve stage compares with the build's requirements.txt and extra packages.
    ` && printf '%s\\n' ${shellQuoted(`requirements ${inputs.requirements}`)} ${shellQuoted(`extras ${inputs.extras}`)} > ${LOCKED_INPUTS} \\`,
    ` && echo ${shellQuoted(variant.name)} > ${LOCK_DIR}/variant \\`,
  ];
  for (const section of LOCK_SECTIONS) {
    const file = `${LOCK_DIR}/${section}.txt`;
    if (!sections[section].length) run.push(` && : > ${file} \\`);
    else run.push(` && printf '%s\\n' \\`, ...sectionRequirements(sections[section]).map((line) => `      ${shellQuoted(line)} \\`), `      > ${file} \\`);
  }
  run[run.length - 1] = run[run.length - 1].replace(/ \\$/, "");
  return [`# ${stage}: locks/${variant.name}.txt, ${count} distributions pinned with their sha256 (\`npm run lock -- ${variant.name}\`).`, `FROM python AS ${stage}`, ...run];
}

/**
 * docker/Dockerfile: one file for every variant; bake passes the variant's values as build args.
 * Stays within what Docker 20.10's built-in frontend parses (no `# syntax=`, no heredocs, no
 * COPY --link), so builds need no registry beyond the base images and work offline once cached.
 */
export function emitDockerfile(plan: BuildPlan, scripts: ContainerScripts): string {
  const { frontend, runtime, requirements, argDefaults } = plan.dockerfile;
  const arg = (name: BuildArg) => `ARG ${name}=${dockerfileWord(argDefaults[name])}`;
  // ARGs are per stage: every stage that runs pip declares both indexes.
  const indexArgs = [arg("PIP_INDEX_URL"), arg("TORCH_INDEX_URL")];
  const webDir = `${SRC}/${frontend.dir}`;
  const { user } = runtime;
  const health = runtime.healthcheck;
  const sections = [
    [
      "# Stages, in the order a change invalidates them:",
      "#   frontend     the web UI, built once on the build platform and shared by every variant and platform",
      "#   system       the variant's base image plus its runtime system packages",
      "#   python       the variant's interpreter in a virtualenv with a pinned pip, and its build packages",
      `#   lock-<variant> what the builder installs: the variant's lock (locks/<variant>.txt), or \`${UNLOCKED_STAGE}\` pins`,
      "#   resolve      without a lock: the pins, the extra packages and requirements.txt resolved together, exact;",
      "#                with one: what requirements.txt gained since it, resolved with the lock held",
      "#   torch        the torch stack alone: a layer that a requirements.txt change leaves as it is",
      "#   packages     everything else (with a lock: the lock's), into a prefix of its own",
      "#   additions    with a lock, what requirements.txt gained since, into a small prefix of its own",
      "#   builder      the torch stack, packages and additions in one virtualenv, checked, and the build tools",
      "#   app          the checkout installed as a package, with the built UI inside: its code and its record apart",
      "#   scripts      the entrypoint and health check (docker/entrypoint.sh, docker/healthcheck.sh)",
      "#   runtime      the service image: system + torch stack + packages + app; no pip, compilers, Node or caches",
      "#   development  builder + app + source, run as root, for debugging",
      "",
      "# Defaults are the default target's values, so a plain `docker build` gives that image; bake sets them all.",
      arg("NODE_IMAGE"),
      arg("BASE_IMAGE"),
      arg("PYTHON_LOCK"),
    ],
    [
      "# ---- frontend: static files only, so one build serves cpu, gpu and every platform ----",
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
      "FROM ${BASE_IMAGE} AS system",
      arg("RUNTIME_PACKAGES"),
      arg("DEBIAN_MIRROR"),
      arg("UBUNTU_MIRROR"),
      ...installMissingPackages("RUNTIME_PACKAGES"),
    ],
    [
      "# ---- python: the variant's interpreter in a virtualenv with a pinned pip, and its build packages ----",
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
      ...PIP_STEP,
      `    echo "$BUILDER_PIP" > /tmp/builder-pip.txt \\`,
      ` && pip install --index-url "$PIP_INDEX_URL" -r /tmp/builder-pip.txt && rm /tmp/builder-pip.txt${PIP_STEP_END}`,
    ],
    [
      `# ---- locks: what the builder installs, as pip requirement files in ${LOCK_DIR} ----`,
      `# ${UNLOCKED_STAGE}: the pins, the extra packages and the build requirements (with the builder's pip,`,
      "# without its hash) as they are, for the resolve stage; set -f, since a requirement such as",
      "# rembg[cpu] is not a file pattern.",
      `FROM python AS ${UNLOCKED_STAGE}`,
      arg("TORCH_VERSION"),
      arg("TORCHVISION_VERSION"),
      arg("XFORMERS_VERSION"),
      arg("EXTRA_PYTHON_PACKAGES"),
      arg("BUILD_REQUIRES"),
      arg("BUILDER_PIP"),
      `RUN mkdir ${LOCK_DIR} \\`,
      ` && printf '%s\\n' "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \${XFORMERS_VERSION:+"xformers==$XFORMERS_VERSION"} > ${LOCK_DIR}/torch.txt \\`,
      ` && set -f && for requirement in $EXTRA_PYTHON_PACKAGES; do echo "$requirement"; done > ${LOCK_DIR}/extras.txt \\`,
      ` && for requirement in $BUILD_REQUIRES "\${BUILDER_PIP%% *}"; do echo "$requirement"; done > ${LOCK_DIR}/build.txt`,
      ...plan.variants.flatMap((variant) => ["", ...lockStageLines(variant)]),
    ],
    [
      "# ---- resolve: one resolve of everything, so that every package fits every other (pip check) ----",
      "# Without a lock, pip resolves the pins, the extra packages and requirements.txt together (metadata",
      "# only), then the torch stack alone under that result; each becomes exact pins (`pins REPORT`: one",
      "# name==version per line, sorted). The reports are what `npm run lock` reads. With a lock, nothing",
      "# is resolved while requirements.txt and the extra packages are the ones it was made from; after",
      "# they change, pip resolves them with every locked release held, and what they need beyond the",
      "# lock goes to additions.txt, hash-checked (`additions REPORT LOCKED`), for a layer of its own.",
      "FROM ${PYTHON_LOCK} AS resolve",
      ...indexArgs,
      arg("EXTRA_PYTHON_PACKAGES"),
      `COPY ${requirements} ${REQUIREMENTS}`,
      ...PIP_STEP,
      `    pins() { python -c ${shellQuoted(PINS_OF_REPORT)} "$1"; }; \\`,
      `    additions() { python -c ${shellQuoted(ADDITIONS_OF_REPORT)} "$1" "$2"; }; \\`,
      `    mkdir -p ${REPORT_DIR} && : > ${LOCK_DIR}/additions.txt; \\`,
      `    if [ ! -f ${LOCK_DIR}/packages.txt ]; then \\`,
      `      pip install ${INDEXES} --dry-run --ignore-installed --report ${REPORT_DIR}/all.json \\`,
      `        -r ${LOCK_DIR}/torch.txt -r ${LOCK_DIR}/extras.txt -r ${REQUIREMENTS} \\`,
      `      && pins ${REPORT_DIR}/all.json > ${LOCK_DIR}/all.txt \\`,
      `      && pip install ${INDEXES} --dry-run --ignore-installed --report ${REPORT_DIR}/torch.json \\`,
      `        -r ${LOCK_DIR}/torch.txt -c ${LOCK_DIR}/all.txt \\`,
      `      && pins ${REPORT_DIR}/torch.json > ${LOCK_DIR}/torch.txt \\`,
      `      && { grep -vxFf ${LOCK_DIR}/torch.txt ${LOCK_DIR}/all.txt || true; } > ${LOCK_DIR}/packages.txt \\`,
      `      && pip install ${INDEXES} --dry-run --ignore-installed --report ${REPORT_DIR}/build.json -r ${LOCK_DIR}/build.txt \\`,
      `      && pins ${REPORT_DIR}/build.json > ${LOCK_DIR}/build.txt; \\`,
      `    elif ! printf 'requirements sha256:%s\\nextras %s\\n' "$(sha256sum ${REQUIREMENTS} | cut -d' ' -f1)" "\${EXTRA_PYTHON_PACKAGES:-none}" | cmp -s - ${LOCKED_INPUTS}; then \\`,
      `      echo "requirements.txt or the extra packages changed since the lock of $(cat ${LOCK_DIR}/variant): resolving what they add, with every locked release held"; \\`,
      `      sed -e '/^--/d' -e 's/ --hash=[^ ]*//g' ${LOCK_DIR}/torch.txt ${LOCK_DIR}/packages.txt > ${LOCK_DIR}/locked.txt \\`,
      `      && set -f && for requirement in $EXTRA_PYTHON_PACKAGES; do echo "$requirement"; done > ${LOCK_DIR}/extras.txt \\`,
      `      && { pip install ${INDEXES} --dry-run --ignore-installed --report ${REPORT_DIR}/additions.json \\`,
      `             -c ${LOCK_DIR}/locked.txt -r ${LOCK_DIR}/extras.txt -r ${REQUIREMENTS} \\`,
      `           || { echo "error: requirements.txt needs releases other than the lock of $(cat ${LOCK_DIR}/variant) holds (pip's conflict above): run npm run lock -- $(cat ${LOCK_DIR}/variant)" >&2; exit 1; }; } \\`,
      `      && additions ${REPORT_DIR}/additions.json ${LOCK_DIR}/locked.txt > ${LOCK_DIR}/additions.txt \\`,
      `      && echo "beyond the lock, in a layer of their own until npm run lock pins them:" && sed 's/ .*//; s/^/  /' ${LOCK_DIR}/additions.txt; \\`,
      `    fi${PIP_STEP_END}`,
    ],
    [
      "# ---- pip-report: what the resolve chose, for `npm run lock` (never an image) ----",
      "FROM scratch AS pip-report",
      `COPY --from=resolve ${REPORT_DIR}/ /`,
    ],
    [
      "# ---- torch: the torch stack alone, from exact pins; only a change of those rebuilds it ----",
      "FROM python AS torch",
      ...indexArgs,
      arg("TORCH_VERSION"),
      arg("TORCHVISION_VERSION"),
      arg("XFORMERS_VERSION"),
      `COPY --from=resolve ${LOCK_DIR}/torch.txt ${LOCK_DIR}/torch.txt`,
      ...PIP_STEP,
      `    pip install ${INDEXES} --no-deps -r ${LOCK_DIR}/torch.txt \\`,
      ` && python -c ${shellQuoted(VERIFY_PINS)} \\`,
      '      "$TORCH_VERSION" "$TORCHVISION_VERSION" "$XFORMERS_VERSION" \\',
      PIP_STEP_END,
    ],
    [
      `# ---- packages: the rest, into ${PACKAGES_PREFIX}, which the runtime adds as one layer over the torch stack ----`,
      "FROM torch AS packages",
      ...indexArgs,
      `COPY --from=resolve ${LOCK_DIR}/packages.txt ${LOCK_DIR}/packages.txt`,
      ...PIP_STEP,
      `    pip install ${INDEXES} --no-deps --ignore-installed --prefix=${PACKAGES_PREFIX} -r ${LOCK_DIR}/packages.txt${PIP_STEP_END}`,
    ],
    [
      `# ---- additions: with a lock, what requirements.txt gained since, into ${ADDITIONS_PREFIX} (empty otherwise) ----`,
      "FROM python AS additions",
      ...indexArgs,
      `COPY --from=resolve ${LOCK_DIR}/additions.txt ${LOCK_DIR}/additions.txt`,
      ...PIP_STEP,
      `    mkdir -p ${ADDITIONS_PREFIX} \\`,
      ` && if [ -s ${LOCK_DIR}/additions.txt ]; then pip install ${INDEXES} --no-deps --ignore-installed --prefix=${ADDITIONS_PREFIX} -r ${LOCK_DIR}/additions.txt; fi${PIP_STEP_END}`,
    ],
    [
      "# ---- builder: the whole virtualenv, checked, and what builds the checkout's package ----",
      "FROM packages AS builder",
      ...indexArgs,
      `COPY --from=resolve ${LOCK_DIR}/build.txt ${LOCK_DIR}/build.txt`,
      `COPY --from=additions ${ADDITIONS_PREFIX} ${ADDITIONS_PREFIX}`,
      "# The build tools (source.build_requires) are installed once here instead of by pip's build",
      "# isolation at each code change, and kept out of the virtualenv the runtime copies.",
      ...PIP_STEP,
      `    cp -a ${PACKAGES_PREFIX}/. ${ADDITIONS_PREFIX}/. ${VENV}/ \\`,
      " && pip check \\",
      ` && pip install ${INDEXES} --no-deps --target ${BUILD_TOOLS} -r ${LOCK_DIR}/build.txt${PIP_STEP_END}`,
    ],
    [
      "# ---- venv: the runtime's virtualenv under the packages: the torch stack without pip or setuptools ----",
      "FROM torch AS venv",
      "# Unless the torch stack itself needs one of them (then it is in torch.txt).",
      `RUN for tool in pip setuptools wheel; do grep -qi "^$tool==" ${LOCK_DIR}/torch.txt || echo "$tool"; done > /tmp/tools \\`,
      ` && python -m pip uninstall --yes --quiet $(cat /tmp/tools) \\`,
      ` && rm -rf ${LOCK_DIR} /tmp/tools`,
    ],
    [
      "# ---- app: the checkout, with the built UI where the package serves it from ----",
      "FROM builder AS app",
      `COPY . ${SRC}`,
      `COPY --from=frontend ${webDir}/${frontend.output} ${SRC}/${frontend.copyTo}`,
      "# A PEP 517 build with the builder's build tools, no build isolation and no index: a code change",
      "# runs this step alone and fetches nothing. Into a prefix of its own, and its *.dist-info apart:",
      "# the runtime adds the code as one layer and the record as another. With a fixed hash seed the",
      "# same code compiles to the same bytes, so after a requirements.txt change the code's layer is reused.",
      `RUN PYTHONPATH=${BUILD_TOOLS} PYTHONHASHSEED=0 pip install --no-index --no-deps --no-build-isolation --use-pep517 --prefix=${APP_PREFIX} ${SRC} \\`,
      ` && cd ${APP_PREFIX} && find . -name '*.dist-info' -type d -prune -exec sh -c 'mkdir -p "${APP_RECORD}/\${1%/*}" && mv "$1" "${APP_RECORD}/$1"' record {} \\;`,
    ],
    [
      "# ---- scripts: entrypoint and health check, embedded from docker/*.sh by the generator ----",
      "FROM ${BASE_IMAGE} AS scripts",
      ...embedScripts([
        [scripts.entrypoint, ENTRYPOINT],
        [scripts.healthcheck, HEALTHCHECK],
      ]),
    ],
    [
      "# ---- runtime: the service image ----",
      "FROM system AS runtime",
      arg("APP_UID"),
      arg("APP_GID"),
      `RUN groupadd --non-unique --gid "$APP_GID" ${user} \\`,
      ` && useradd --non-unique --uid "$APP_UID" --gid "$APP_GID" --create-home --shell /usr/sbin/nologin ${user} \\`,
      ` && mkdir -p ${[runtime.workdir, ...runtime.volumes].join(" ")} \\`,
      ` && chown "$APP_UID:$APP_GID" ${[runtime.workdir, ...runtime.volumes].join(" ")}`,
      `COPY --from=scripts ${ENTRYPOINT} ${HEALTHCHECK} /usr/local/bin/`,
      "# Ordered so that a change touches small layers alone: the torch stack (gigabytes, changed only",
      "# with its pins), the other packages (with a lock, changed only with it), the app's code, what",
      "# requirements.txt gained beyond the lock, the app's record (a code change and an added package",
      "# both touch it; an added package leaves the code's layer as it was).",
      `COPY --from=venv ${VENV} ${VENV}`,
      `COPY --from=packages ${PACKAGES_PREFIX}/ ${VENV}/`,
      `COPY --from=app ${APP_PREFIX}/ ${VENV}/`,
      `COPY --from=additions ${ADDITIONS_PREFIX}/ ${VENV}/`,
      `COPY --from=app ${APP_RECORD}/ ${VENV}/`,
      ...serviceEnvironment(plan, arg("DEVICE")),
      `WORKDIR ${runtime.workdir}`,
      `VOLUME [${runtime.volumes.map(jsonString).join(", ")}]`,
      `EXPOSE ${runtime.port}`,
      'USER ${APP_UID}:${APP_GID}',
      `HEALTHCHECK --interval=${health.interval} --timeout=${health.timeout} --start-period=${health.startPeriod} --retries=${health.retries} \\`,
      `    CMD [${jsonString(HEALTHCHECK)}, ${jsonString(health.path)}]`,
      `ENTRYPOINT [${jsonString(ENTRYPOINT)}]`,
    ],
    [
      "# ---- development: build tools, pip and the source, as root ----",
      "FROM builder AS development",
      `COPY --from=scripts ${ENTRYPOINT} ${HEALTHCHECK} /usr/local/bin/`,
      `COPY --from=app ${APP_PREFIX}/ ${VENV}/`,
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

/** A pip report (`--report`) as exact pins: PEP 503 names, one `name==version` per line, sorted. */
const PINS_OF_REPORT = [
  "import json, re, sys",
  'print("\\n".join(sorted(re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower() + "==" + i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"])))',
].join("; ");

/**
 * A pip report's distributions that a lock's pins (LOCKED: name==version lines) lack, as
 * requirements with the sha256 the index gave (pip's hash check then holds them as it holds the lock).
 */
const ADDITIONS_OF_REPORT = [
  "import json, re, sys",
  'norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()',
  'locked = {norm(line.split("==")[0]) for line in open(sys.argv[2]) if "==" in line}',
  'new = [i for i in json.load(open(sys.argv[1]))["install"] if norm(i["metadata"]["name"]) not in locked]',
  'digest = lambda i: i["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")',
  'sys.stdout.write("".join(sorted(norm(i["metadata"]["name"]) + "==" + i["metadata"]["version"] + (" --hash=sha256:" + digest(i) if all(map(digest, new)) else "") + "\\n" for i in new)))',
].join("; ");

/** Checks after the install that pip kept the pinned releases (local labels like +cpu aside). */
const VERIFY_PINS = [
  "import sys",
  "from importlib.metadata import version",
  'bad = [f"{name} {version(name)} (pinned {want})" for name, want in zip(("torch", "torchvision", "xformers"), sys.argv[1:]) if want and version(name).split("+")[0] != want]',
  'sys.exit("installed versions differ from the pins: " + ", ".join(bad) if bad else 0)',
].join("; ");

/** Where the apt steps keep a mirror's sources list and a CA bundle while they run (removed in the same step, so no layer holds them). */
const APT_MIRROR_DIR = "/tmp/apt-mirror";

/**
 * apt-get only for packages the base lacks: no network is needed when the base already has them.
 * Its lists, caches and logs go in the same step: they would grow the layer, and the logs and
 * ldconfig's cache differ from run to run (docs/reproducible.md). With a mirror for the base's
 * distribution (DEBIAN_MIRROR, UBUNTU_MIRROR), apt reads a sources list of that mirror alone,
 * given by option for these two commands, so the image's own sources stay as the base image has
 * them. With extra CA certificates, apt's https trusts the system's bundle plus them.
 */
function installMissingPackages(arg: string): string[] {
  return [
    `RUN ${CA_MOUNT} \\`,
    `    missing=""; \\`,
    `    for package in $${arg}; do \\`,
    `      dpkg-query -W -f='\${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing="$missing $package"; \\`,
    "    done; \\",
    '    if [ -n "$missing" ]; then \\',
    "      . /etc/os-release; \\",
    '      case "$ID" in \\',
    '        debian) mirror=$DEBIAN_MIRROR suites="$VERSION_CODENAME $VERSION_CODENAME-updates" components="main" ;; \\',
    '        ubuntu) mirror=$UBUNTU_MIRROR suites="$VERSION_CODENAME $VERSION_CODENAME-updates $VERSION_CODENAME-security" components="main universe" ;; \\',
    "        *) mirror= ;; \\",
    "      esac; \\",
    "      set --; \\",
    '      if [ -n "$mirror" ]; then \\',
    `        mkdir -p ${APT_MIRROR_DIR}/parts \\`,
    `        && for suite in $suites; do echo "deb $mirror $suite $components"; done > ${APT_MIRROR_DIR}/sources.list \\`,
    `        && set -- -o Dir::Etc::SourceList=${APT_MIRROR_DIR}/sources.list -o Dir::Etc::SourceParts=${APT_MIRROR_DIR}/parts; \\`,
    "      fi; \\",
    `      if [ -f ${CA_FILE} ]; then \\`,
    `        mkdir -p ${APT_MIRROR_DIR} && { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null; cat ${CA_FILE}; } > ${APT_MIRROR_DIR}/ca.pem \\`,
    `        && set -- "$@" -o Acquire::https::CAInfo=${APT_MIRROR_DIR}/ca.pem; \\`,
    "      fi; \\",
    '      apt-get "$@" update \\',
    '      && DEBIAN_FRONTEND=noninteractive apt-get "$@" install -y --no-install-recommends $missing \\',
    "      && apt-get clean \\",
    `      && rm -rf ${APT_MIRROR_DIR} /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/ldconfig/aux-cache; \\`,
    "    fi",
  ];
}

/** Scripts as `printf` lines, one quoted line per source line, so the Dockerfile shows them readably. */
function embedScripts(files: [text: string, destination: string][]): string[] {
  const lines = files.flatMap(([text, destination], index) => [
    `${index === 0 ? "RUN" : " &&"} printf '%s\\n' \\`,
    ...text.replace(/\n$/, "").split("\n").map((line) => `      ${shellQuoted(line)} \\`),
    `      > ${destination} \\`,
  ]);
  return [...lines, ` && chmod 0755 ${files.map(([, destination]) => destination).join(" ")}`];
}

function serviceEnvironment(plan: BuildPlan, deviceArg: string): string[] {
  const env = plan.dockerfile.runtime.env;
  return [
    deviceArg,
    `ENV PATH=${VENV}/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \\`,
    `    ${Object.entries(env).map(([k, v]) => `${k}=${dockerfileWord(v)}`).join(" ")} DEVICE=$DEVICE`,
  ];
}
