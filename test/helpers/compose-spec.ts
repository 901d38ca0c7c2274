/**
 * A structural check of a Compose file against the Compose Specification, for the parts this
 * project uses (https://github.com/compose-spec/compose-spec/blob/main/spec.md: services, image,
 * build, ports, volumes, environment, profiles, deploy.resources.reservations.devices,
 * healthcheck, stop_grace_period, restart, and top-level volumes). It is what the tests fall back
 * on where no Compose is installed, and it runs always, because a Compose CLI accepts some
 * mistakes (an unknown key under `x-`, a port it reads differently) that we want to catch.
 *
 * Pure functions: parsed YAML in, a list of problems out ("services.gpu.deploy…: why").
 */

type Doc = Record<string, unknown>;

/** Keys the spec allows at the top level (plus any `x-` extension). */
const TOP_LEVEL = new Set(["version", "name", "services", "networks", "volumes", "configs", "secrets", "include"]);

/** Service keys this project may use; anything else is more likely a typo than a need. */
const SERVICE_KEYS = new Set([
  "image",
  "build",
  "ports",
  "volumes",
  "environment",
  "env_file",
  "profiles",
  "deploy",
  "healthcheck",
  "stop_grace_period",
  "stop_signal",
  "restart",
  "command",
  "entrypoint",
  "user",
  "working_dir",
  "container_name",
  "labels",
  "depends_on",
  "networks",
  "init",
  "shm_size",
  "ipc",
  "gpus",
  "pull_policy",
]);

/** pull_policy as the Compose spec lists it (after interpolation). */
const PULL_POLICY = /^(always|never|missing|if_not_present|build|refresh|daily|weekly|every_(\d+[wdhms])+)$/;

const RESTART = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;
/** Go-style durations as the spec writes them: 1m30s, 10s, 300ms, 1h. */
const DURATION = /^(\d+(\.\d+)?(us|ms|s|m|h))+$/;
const PROFILE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Short port syntax: [[ip:]host[-range]:]container[-range][/protocol]. */
const PORT = /^(?:(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?:\d+(?:-\d+)?)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/;

/**
 * Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
 * ${VAR?error}, $VAR, and $$ for a literal $ (no nesting: this project's files need none). Throws
 * on a required variable that is missing, as Compose does.
 */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name: string | undefined, colon: string, op: string, arg: string, bare: string | undefined) => {
      if (match === "$$") return "$";
      if (bare) return env[bare] ?? "";
      const current = env[name!];
      const unset = current === undefined || (colon === ":" && current === "");
      if (!op) return current ?? "";
      if (op === "-") return unset ? arg : current!;
      if (unset) throw new Error(`required variable ${name} is missing: ${arg}`);
      return current!;
    },
  );
}

/** Deep copy with every string interpolated. */
export function interpolateDoc<T>(value: T, env: Record<string, string | undefined>): T {
  if (typeof value === "string") return interpolate(value, env) as T;
  if (Array.isArray(value)) return value.map((item) => interpolateDoc(item, env)) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDoc(v, env)])) as T;
  return value;
}

const isMap = (value: unknown): value is Doc => typeof value === "object" && value !== null && !Array.isArray(value);
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");

/** Problems of an (interpolated) Compose document; empty when it fits the spec's structure. */
export function composeProblems(doc: unknown): string[] {
  const problems: string[] = [];
  const say = (path: string, why: string) => problems.push(`${path}: ${why}`);
  if (!isMap(doc)) return ["(root): a Compose file is a mapping"];
  for (const key of Object.keys(doc)) if (!TOP_LEVEL.has(key) && !key.startsWith("x-")) say(key, "not a top-level key of the Compose spec");
  if (!isMap(doc.services) || !Object.keys(doc.services).length) say("services", "must be a mapping with at least one service");
  const declaredVolumes = isMap(doc.volumes) ? doc.volumes : {};
  if (doc.volumes !== undefined && !isMap(doc.volumes)) say("volumes", "must be a mapping of volume names");
  for (const [name, volume] of Object.entries(declaredVolumes)) {
    if (volume !== null && !isMap(volume)) say(`volumes.${name}`, "must be empty or a mapping");
    if (isMap(volume) && volume.name !== undefined && typeof volume.name !== "string") say(`volumes.${name}.name`, "must be a string");
  }
  for (const [name, service] of Object.entries(isMap(doc.services) ? doc.services : {})) {
    checkService(`services.${name}`, service, declaredVolumes, say);
  }
  return problems;
}

type Say = (path: string, why: string) => void;

function checkService(path: string, service: unknown, declaredVolumes: Doc, say: Say): void {
  if (!isMap(service)) {
    say(path, "must be a mapping");
    return;
  }
  for (const key of Object.keys(service)) if (!SERVICE_KEYS.has(key) && !key.startsWith("x-")) say(`${path}.${key}`, "not a service key this project uses (typo?)");
  if (service.image === undefined && service.build === undefined) say(path, "needs an image or a build");
  if (service.image !== undefined && (typeof service.image !== "string" || !/^[^\s:]+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/.test(service.image)))
    say(`${path}.image`, `not an image reference: ${JSON.stringify(service.image)}`);
  if (service.build !== undefined) checkBuild(`${path}.build`, service.build, say);
  if (service.ports !== undefined) checkPorts(`${path}.ports`, service.ports, say);
  if (service.volumes !== undefined) checkVolumes(`${path}.volumes`, service.volumes, declaredVolumes, say);
  if (service.environment !== undefined) checkEnvironment(`${path}.environment`, service.environment, say);
  if (service.profiles !== undefined && !(isStringList(service.profiles) && service.profiles.every((p) => PROFILE.test(p))))
    say(`${path}.profiles`, "must be a list of names ([a-zA-Z0-9][a-zA-Z0-9_.-]*)");
  if (service.stop_grace_period !== undefined && !(typeof service.stop_grace_period === "string" && DURATION.test(service.stop_grace_period)))
    say(`${path}.stop_grace_period`, "must be a duration like 10s");
  if (service.restart !== undefined && !(typeof service.restart === "string" && RESTART.test(service.restart))) say(`${path}.restart`, "must be no, always, on-failure[:N] or unless-stopped");
  if (service.pull_policy !== undefined && !(typeof service.pull_policy === "string" && PULL_POLICY.test(service.pull_policy)))
    say(`${path}.pull_policy`, "must be always, never, missing, build, daily, weekly or every_<duration>");
  if (service.healthcheck !== undefined) checkHealthcheck(`${path}.healthcheck`, service.healthcheck, say);
  if (service.deploy !== undefined) checkDeploy(`${path}.deploy`, service.deploy, say);
}

function checkBuild(path: string, build: unknown, say: Say): void {
  if (typeof build === "string") return;
  if (!isMap(build)) {
    say(path, "must be a path or a mapping");
    return;
  }
  if (build.context !== undefined && typeof build.context !== "string") say(`${path}.context`, "must be a string");
  if (build.dockerfile !== undefined && typeof build.dockerfile !== "string") say(`${path}.dockerfile`, "must be a string");
  if (build.target !== undefined && typeof build.target !== "string") say(`${path}.target`, "must be a string");
  if (build.cache_from !== undefined && !isStringList(build.cache_from)) say(`${path}.cache_from`, "must be a list of strings");
  if (build.args !== undefined) checkEnvironment(`${path}.args`, build.args, say);
}

function checkPorts(path: string, ports: unknown, say: Say): void {
  if (!Array.isArray(ports)) {
    say(path, "must be a list");
    return;
  }
  ports.forEach((port, i) => {
    if (typeof port === "number") return;
    if (typeof port === "string") {
      if (!PORT.test(port)) say(`${path}[${i}]`, `not a port mapping: ${JSON.stringify(port)}`);
      return;
    }
    if (!isMap(port) || port.target === undefined) {
      say(`${path}[${i}]`, "long syntax needs a target");
      return;
    }
    if (!/^\d+$/.test(String(port.target))) say(`${path}[${i}].target`, "must be a port number");
  });
}

function checkVolumes(path: string, volumes: unknown, declared: Doc, say: Say): void {
  if (!Array.isArray(volumes)) {
    say(path, "must be a list");
    return;
  }
  volumes.forEach((volume, i) => {
    const at = `${path}[${i}]`;
    let source: string | undefined;
    let target: unknown;
    if (typeof volume === "string") {
      const parts = volume.split(":");
      if (parts.length > 3 || (parts.length === 3 && !/^(ro|rw|z|Z|(ro|rw),(z|Z))$/.test(parts[2]))) {
        say(at, `not SOURCE:TARGET[:MODE]: ${JSON.stringify(volume)}`);
        return;
      }
      [source, target] = parts.length === 1 ? [undefined, parts[0]] : parts;
    } else if (isMap(volume)) {
      ({ source, target } = volume as { source?: string; target?: unknown });
      if (!["volume", "bind", "tmpfs", "npipe", "cluster", "image"].includes(String(volume.type))) say(`${at}.type`, "unknown volume type");
    } else {
      say(at, "must be a string or a mapping");
      return;
    }
    if (typeof target !== "string" || !target.startsWith("/")) say(at, "the target must be an absolute path in the container");
    // A source that is not a path names a volume, which the top-level volumes must declare.
    if (source && !/^[./~]/.test(source) && !(source in declared)) say(at, `volume "${source}" is not declared under the top-level volumes`);
  });
}

function checkEnvironment(path: string, environment: unknown, say: Say): void {
  if (Array.isArray(environment)) {
    environment.forEach((item, i) => {
      if (typeof item !== "string" || !/^[^=\s]+(=.*)?$/s.test(item)) say(`${path}[${i}]`, "must be KEY or KEY=VALUE");
    });
  } else if (isMap(environment)) {
    for (const [key, value] of Object.entries(environment)) {
      if (value !== null && !["string", "number", "boolean"].includes(typeof value)) say(`${path}.${key}`, "must be a string, number, boolean or null");
    }
  } else {
    say(path, "must be a mapping or a list");
  }
}

function checkHealthcheck(path: string, healthcheck: unknown, say: Say): void {
  if (!isMap(healthcheck)) {
    say(path, "must be a mapping");
    return;
  }
  const { test, retries, disable } = healthcheck;
  if (test !== undefined && typeof test !== "string" && !(isStringList(test) && ["NONE", "CMD", "CMD-SHELL"].includes(test[0])))
    say(`${path}.test`, 'must be a string or a list starting with "CMD", "CMD-SHELL" or "NONE"');
  for (const key of ["interval", "timeout", "start_period", "start_interval"]) {
    const value = healthcheck[key];
    if (value !== undefined && !(typeof value === "string" && DURATION.test(value))) say(`${path}.${key}`, "must be a duration like 30s");
  }
  if (retries !== undefined && !Number.isInteger(retries)) say(`${path}.retries`, "must be an integer");
  if (disable !== undefined && typeof disable !== "boolean") say(`${path}.disable`, "must be true or false");
}

function checkDeploy(path: string, deploy: unknown, say: Say): void {
  if (!isMap(deploy)) {
    say(path, "must be a mapping");
    return;
  }
  const resources = deploy.resources;
  if (resources === undefined) return;
  if (!isMap(resources)) {
    say(`${path}.resources`, "must be a mapping");
    return;
  }
  const reservations = resources.reservations;
  if (reservations === undefined) return;
  if (!isMap(reservations)) {
    say(`${path}.resources.reservations`, "must be a mapping");
    return;
  }
  const devices = reservations.devices;
  if (devices === undefined) return;
  const at = `${path}.resources.reservations.devices`;
  if (!Array.isArray(devices)) {
    say(at, "must be a list");
    return;
  }
  devices.forEach((device, i) => {
    if (!isMap(device)) {
      say(`${at}[${i}]`, "must be a mapping");
      return;
    }
    // The spec: capabilities is required; count ("all" or a number) and device_ids exclude each other.
    if (!isStringList(device.capabilities) || !device.capabilities.length) say(`${at}[${i}].capabilities`, "is required: a non-empty list such as [gpu]");
    if (device.count !== undefined && device.count !== "all" && !Number.isInteger(device.count)) say(`${at}[${i}].count`, 'must be "all" or a number');
    if (device.count !== undefined && device.device_ids !== undefined) say(`${at}[${i}]`, "count and device_ids cannot both be set");
    if (device.device_ids !== undefined && !isStringList(device.device_ids)) say(`${at}[${i}].device_ids`, "must be a list of strings");
    if (device.driver !== undefined && typeof device.driver !== "string") say(`${at}[${i}].driver`, "must be a string");
  });
}
