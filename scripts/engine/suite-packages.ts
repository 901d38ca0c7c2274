/**
 * A buildx engine's programs (dockerd, the client, containerd, buildx and Compose as CLI plugins)
 * from a later Debian suite than the machine's own, which the machine's Debian mirror also
 * serves: trixie (Docker 26.1, buildx 0.13.1, Compose 2.26) and forky (Docker 28.5, buildx 0.29,
 * Compose 2.40, containerd 2.1). They are fetched with Debian's ordinary client into a private
 * apt state and unpacked into a private prefix per suite, so the system's packages (bookworm's
 * docker.io 20.10 among them) stay as they are and no plugin lands in front of every client on
 * the machine.
 *
 * Recipes checked in /work/shared/docker-engine-here.md ("A current engine", "The newest engine").
 */
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { EngineEnvironmentError, readDebianMirror, requireRoot } from "./host.ts";

/**
 * The packages, and the one file each must provide (checked after unpacking). No runc: forky's
 * needs glibc 2.38 (bookworm has 2.36), and bookworm's own (/usr/sbin/runc, from docker.io, which
 * the host packages install) works with both suites' dockerd and containerd.
 */
function packagesOf(suite: DockerSuite): ReadonlyArray<{ name: string; provides: string }> {
  return [
    { name: "docker.io", provides: "usr/sbin/dockerd" },
    { name: "docker-cli", provides: "usr/bin/docker" },
    { name: "containerd", provides: "usr/bin/containerd" },
    { name: "docker-buildx", provides: "usr/libexec/docker/cli-plugins/docker-buildx" },
    { name: "docker-compose", provides: "usr/libexec/docker/cli-plugins/docker-compose" },
    // dockerd's init for `docker run --init`: trixie's tini ships docker-init itself; forky's
    // docker.io ships docker-init as a link to tini-static.
    { name: suite === "trixie" ? "tini" : "tini-static", provides: "usr/bin/docker-init" },
  ];
}

/** The Debian suites whose Docker the engines take. */
export type DockerSuite = "trixie" | "forky";

export interface SuitePrograms {
  /** The unpacked tree; its usr/bin and usr/sbin go first on dockerd's PATH (it starts containerd from there). */
  prefix: string;
  dockerd: string;
  client: string;
  /** Holds docker-buildx and docker-compose: point DOCKER_CONFIG's cli-plugins at it. */
  pluginsDir: string;
  /** Package name → Debian version, as unpacked. */
  versions: Record<string, string>;
}

function programsIn(prefix: string, versions: Record<string, string>): SuitePrograms {
  return {
    prefix,
    dockerd: path.join(prefix, "usr/sbin/dockerd"),
    client: path.join(prefix, "usr/bin/docker"),
    pluginsDir: path.join(prefix, "usr/libexec/docker/cli-plugins"),
    versions,
  };
}

/**
 * The suite's unpacked programs under `dir`, fetched on first use (about 90 to 150 MB, a few
 * seconds on the mirror). The prefix appears whole or not at all: it is unpacked beside and
 * renamed into place.
 */
export async function ensureSuitePrograms(suite: DockerSuite, dir: string, log: (line: string) => void): Promise<SuitePrograms> {
  const packages = packagesOf(suite);
  const prefix = path.join(dir, "prefix");
  const manifest = path.join(prefix, ".packages.json");
  if (fs.existsSync(manifest)) {
    const versions = JSON.parse(fs.readFileSync(manifest, "utf8")) as Record<string, string>;
    if (packages.every((p) => fs.existsSync(path.join(prefix, p.provides)))) return programsIn(prefix, versions);
  }
  requireRoot(`fetching Docker from Debian ${suite}`);
  const apt = path.join(dir, "apt");
  for (const sub of ["lists/partial", "cache/archives/partial", "debs"]) fs.mkdirSync(path.join(apt, sub), { recursive: true });
  // The machine's own mirror (read from its apt sources at run time), with a later suite.
  const sourceList = path.join(apt, "sources.list");
  fs.writeFileSync(sourceList, `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${readDebianMirror("bookworm")} ${suite} main\n`);
  const options = [
    "-q",
    "-o",
    `Dir::Etc::SourceList=${sourceList}`,
    "-o",
    "Dir::Etc::SourceParts=/nonexistent",
    "-o",
    `Dir::State::Lists=${path.join(apt, "lists")}`,
    "-o",
    "Dir::State::Status=/dev/null",
    "-o",
    `Dir::Cache=${path.join(apt, "cache")}`,
    // The downloads go to a root-owned directory; apt's _apt sandbox user could not write there.
    "-o",
    "APT::Sandbox::User=root",
  ];
  const aptGet = async (args: string[], cwd?: string) => {
    const r = await execa("apt-get", [...options, ...args], { cwd, reject: false, all: true, env: { DEBIAN_FRONTEND: "noninteractive" } });
    if (r.exitCode !== 0) {
      throw new EngineEnvironmentError(
        `apt-get ${args[0]} for Debian ${suite} failed (exit ${r.exitCode})`,
        `this engine comes from the ${suite} suite of the Debian mirror in /etc/apt/sources.list.d/debian.sources; check that the mirror serves it, or use the legacy engine (npm run engine -- start legacy)`,
        String(r.all).split("\n").slice(-15).join("\n"),
      );
    }
    return String(r.stdout);
  };
  log(`[engine] fetching ${packages.map((p) => p.name).join(", ")} from Debian ${suite}`);
  await aptGet(["update"]);
  const debs = path.join(apt, "debs");
  for (const old of fs.readdirSync(debs)) fs.rmSync(path.join(debs, old));
  await aptGet(["download", ...packages.map((p) => p.name)], debs);

  const staging = `${prefix}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const versions: Record<string, string> = {};
  for (const file of fs
    .readdirSync(debs)
    .filter((f) => f.endsWith(".deb"))
    .sort()) {
    const deb = path.join(debs, file);
    const fields = await execa("dpkg-deb", ["--show", "--showformat=${Package} ${Version}", deb]);
    const [name, version] = String(fields.stdout).trim().split(" ");
    versions[name!] = version!;
    await execa("dpkg-deb", ["-x", deb, staging]);
  }
  const missing = packages.filter((p) => !fs.existsSync(path.join(staging, p.provides)));
  if (missing.length) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new EngineEnvironmentError(`the ${suite} packages lack ${missing.map((p) => p.provides).join(", ")}`, "the packages' layout changed; update scripts/engine/suite-packages.ts");
  }
  fs.writeFileSync(path.join(staging, ".packages.json"), `${JSON.stringify(versions, null, 2)}\n`);
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.renameSync(staging, prefix);
  log(
    `[engine] unpacked into ${prefix}: ${Object.entries(versions)
      .map(([n, v]) => `${n} ${v}`)
      .join(", ")}`,
  );
  return programsIn(prefix, versions);
}
