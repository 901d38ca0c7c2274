/**
 * The current engine's programs: Docker 26.1, containerd 1.7, buildx 0.13 and Compose v2 from
 * Debian's next release (suite trixie), which the machine's own Debian mirror also serves.
 * They are fetched with Debian's ordinary client into a private apt state and unpacked into a
 * private prefix, so the system's packages (bookworm's docker.io 20.10 among them) stay as they
 * are and no plugin lands in front of every client on the machine.
 *
 * Recipe checked in /work/shared/docker-engine-here.md ("A current engine").
 */
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { EngineEnvironmentError, readDebianMirror, requireRoot } from "./host.ts";

/** The packages, and the one file each must provide (checked after unpacking). */
const PACKAGES: ReadonlyArray<{ name: string; provides: string }> = [
  { name: "docker.io", provides: "usr/sbin/dockerd" },
  { name: "docker-cli", provides: "usr/bin/docker" },
  { name: "containerd", provides: "usr/bin/containerd" },
  { name: "docker-buildx", provides: "usr/libexec/docker/cli-plugins/docker-buildx" },
  { name: "docker-compose", provides: "usr/libexec/docker/cli-plugins/docker-compose" },
  { name: "tini", provides: "usr/bin/docker-init" },
];
const SUITE = "trixie";

export interface TrixiePrograms {
  /** The unpacked tree; its usr/bin and usr/sbin go first on dockerd's PATH (it starts containerd from there). */
  prefix: string;
  dockerd: string;
  client: string;
  /** Holds docker-buildx and docker-compose: point DOCKER_CONFIG's cli-plugins at it. */
  pluginsDir: string;
  /** Package name → Debian version, as unpacked. */
  versions: Record<string, string>;
}

function programsIn(prefix: string, versions: Record<string, string>): TrixiePrograms {
  return {
    prefix,
    dockerd: path.join(prefix, "usr/sbin/dockerd"),
    client: path.join(prefix, "usr/bin/docker"),
    pluginsDir: path.join(prefix, "usr/libexec/docker/cli-plugins"),
    versions,
  };
}

/**
 * The unpacked programs under `dir`, fetched on first use (about 90 MB, a few seconds on the
 * mirror). The prefix appears whole or not at all: it is unpacked beside and renamed into place.
 */
export async function ensureTrixiePrograms(dir: string, log: (line: string) => void): Promise<TrixiePrograms> {
  const prefix = path.join(dir, "prefix");
  const manifest = path.join(prefix, ".packages.json");
  if (fs.existsSync(manifest)) {
    const versions = JSON.parse(fs.readFileSync(manifest, "utf8")) as Record<string, string>;
    if (PACKAGES.every((p) => fs.existsSync(path.join(prefix, p.provides)))) return programsIn(prefix, versions);
  }
  requireRoot("fetching Docker 26 from Debian trixie");
  const apt = path.join(dir, "apt");
  for (const sub of ["lists/partial", "cache/archives/partial", "debs"]) fs.mkdirSync(path.join(apt, sub), { recursive: true });
  // The machine's own mirror (read from its apt sources at run time), with the next suite.
  const sourceList = path.join(apt, "sources.list");
  fs.writeFileSync(sourceList, `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${readDebianMirror("bookworm")} ${SUITE} main\n`);
  const options = [
    "-q",
    "-o", `Dir::Etc::SourceList=${sourceList}`,
    "-o", "Dir::Etc::SourceParts=/nonexistent",
    "-o", `Dir::State::Lists=${path.join(apt, "lists")}`,
    "-o", "Dir::State::Status=/dev/null",
    "-o", `Dir::Cache=${path.join(apt, "cache")}`,
    // The downloads go to a root-owned directory; apt's _apt sandbox user could not write there.
    "-o", "APT::Sandbox::User=root",
  ];
  const aptGet = async (args: string[], cwd?: string) => {
    const r = await execa("apt-get", [...options, ...args], { cwd, reject: false, all: true, env: { DEBIAN_FRONTEND: "noninteractive" } });
    if (r.exitCode !== 0) {
      throw new EngineEnvironmentError(
        `apt-get ${args[0]} for Debian ${SUITE} failed (exit ${r.exitCode})`,
        `the current engine comes from the ${SUITE} suite of the Debian mirror in /etc/apt/sources.list.d/debian.sources; check that the mirror serves it, or use the legacy engine (npm run engine -- start legacy)`,
        String(r.all).split("\n").slice(-15).join("\n"),
      );
    }
    return String(r.stdout);
  };
  log(`[engine] fetching ${PACKAGES.map((p) => p.name).join(", ")} from Debian ${SUITE}`);
  await aptGet(["update"]);
  const debs = path.join(apt, "debs");
  for (const old of fs.readdirSync(debs)) fs.rmSync(path.join(debs, old));
  await aptGet(["download", ...PACKAGES.map((p) => p.name)], debs);

  const staging = `${prefix}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const versions: Record<string, string> = {};
  for (const file of fs.readdirSync(debs).filter((f) => f.endsWith(".deb")).sort()) {
    const deb = path.join(debs, file);
    const fields = await execa("dpkg-deb", ["--show", "--showformat=${Package} ${Version}", deb]);
    const [name, version] = String(fields.stdout).trim().split(" ");
    versions[name!] = version!;
    await execa("dpkg-deb", ["-x", deb, staging]);
  }
  const missing = PACKAGES.filter((p) => !fs.existsSync(path.join(staging, p.provides)));
  if (missing.length) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new EngineEnvironmentError(`the ${SUITE} packages lack ${missing.map((p) => p.provides).join(", ")}`, "the packages' layout changed; update scripts/engine/trixie-packages.ts");
  }
  fs.writeFileSync(path.join(staging, ".packages.json"), `${JSON.stringify(versions, null, 2)}\n`);
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.renameSync(staging, prefix);
  log(`[engine] unpacked into ${prefix}: ${Object.entries(versions).map(([n, v]) => `${n} ${v}`).join(", ")}`);
  return programsIn(prefix, versions);
}
