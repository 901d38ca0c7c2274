import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { ensureHostTools } from "../../scripts/engine/host.ts";

export interface DebianRepository {
  /** Serve this directory: the mirror's URL points at it. */
  root: string;
  /** The repository's signing key (binary OpenPGP), for an image's /etc/apt/trusted.gpg.d/. */
  keyFile: string;
  /** The package only this repository has. */
  packageName: string;
  /** The file the package installs. */
  packageFile: string;
  /** Where the package's .deb is, from the root. */
  packagePath: string;
}

const REPOSITORY_TOOLS = [
  { path: "/usr/bin/dpkg-scanpackages", pkg: "dpkg-dev" },
  { path: "/usr/bin/gpg", pkg: "gpg" },
  { path: "/usr/bin/gpgconf", pkg: "gpgconf" },
  { path: "/usr/bin/gpg-agent", pkg: "gpg-agent" },
];

/** A distribution's layout: its suites and components, and where the probe package goes. */
export interface RepositoryLayout {
  suites: string[];
  components: string[];
  /** The suite and component that hold the package; every other index is empty. */
  packageIn: { suite: string; component: string };
}

/** What the Dockerfile's apt steps read from a Debian mirror: `<codename>` and `-updates`, main. */
export const debianLayout = (codename: string): RepositoryLayout => ({ suites: [codename, `${codename}-updates`], components: ["main"], packageIn: { suite: codename, component: "main" } });

/**
 * What they read from an Ubuntu mirror: `<codename>`, `-updates` and `-security`, main and
 * universe; the package in universe, so that it installs only if that component is read.
 */
export const ubuntuLayout = (codename: string): RepositoryLayout => ({
  suites: [codename, `${codename}-updates`, `${codename}-security`],
  components: ["main", "universe"],
  packageIn: { suite: codename, component: "universe" },
});

/**
 * A small signed Debian repository made with Debian's own tools: dpkg-deb builds a package that
 * no stand-in base has, dpkg-scanpackages indexes it, gpg signs each suite's Release (InRelease)
 * with a key made here.
 */
export async function makeDebianRepository(dir: string, layout: RepositoryLayout): Promise<DebianRepository> {
  // Debian's tools that make and sign the repository (a new machine may lack them).
  await ensureHostTools(REPOSITORY_TOOLS, (line) => process.stderr.write(`${line}\n`));
  const packageName = "iopaint-mirror-probe";
  const packageFile = `/usr/share/${packageName}/installed-from-the-mirror`;
  const architecture = (await execa("dpkg", ["--print-architecture"])).stdout.trim();
  const root = join(dir, "repository");
  const packageDir = join(dir, packageName);
  await mkdir(join(packageDir, "DEBIAN"), { recursive: true });
  await mkdir(join(packageDir, packageFile, ".."), { recursive: true });
  await writeFile(join(packageDir, packageFile), "installed by apt from the test's Debian mirror\n");
  await writeFile(
    join(packageDir, "DEBIAN/control"),
    [
      `Package: ${packageName}`,
      "Version: 1.0",
      "Architecture: all",
      "Maintainer: IOPaint images tests <tests@iopaint.invalid>",
      "Description: a package that only the tests' Debian mirror has",
      "",
    ].join("\n"),
  );
  const pool = `pool/${layout.packageIn.component}`;
  await mkdir(join(root, pool), { recursive: true });
  await execa("dpkg-deb", ["--root-owner-group", "--build", packageDir, join(root, `${pool}/${packageName}_1.0_all.deb`)]);
  const packages = (await execa("dpkg-scanpackages", ["--multiversion", pool], { cwd: root })).stdout;

  const gnupg = join(dir, "gnupg");
  await mkdir(gnupg, { recursive: true });
  await chmod(gnupg, 0o700);
  const gpg = (args: string[]) => execa("gpg", ["--batch", "--quiet", ...args], { env: { GNUPGHOME: gnupg } });
  try {
    await gpg(["--passphrase", "", "--quick-generate-key", "IOPaint images test mirror <mirror@iopaint.invalid>", "ed25519", "sign", "never"]);
    for (const suite of layout.suites) {
      const suiteDir = join(root, "dists", suite);
      const checksums: string[] = [];
      for (const component of layout.components) {
        const index = `${component}/binary-${architecture}/Packages`;
        await mkdir(join(suiteDir, index, ".."), { recursive: true });
        const holds = suite === layout.packageIn.suite && component === layout.packageIn.component;
        const text = holds ? `${packages}\n` : "";
        await writeFile(join(suiteDir, index), text);
        checksums.push(` ${createHash("sha256").update(text).digest("hex")} ${Buffer.byteLength(text)} ${index}`);
      }
      const release = [
        "Origin: IOPaint images tests",
        `Suite: ${suite}`,
        `Codename: ${suite}`,
        `Date: ${new Date().toUTCString().replace("GMT", "UTC")}`,
        `Architectures: ${architecture}`,
        `Components: ${layout.components.join(" ")}`,
        "SHA256:",
        ...checksums,
        "",
      ].join("\n");
      await writeFile(join(suiteDir, "Release"), release);
      await gpg(["--yes", "--clearsign", "--output", join(suiteDir, "InRelease"), join(suiteDir, "Release")]);
    }
    const keyFile = join(dir, "iopaint-test-mirror.gpg");
    await gpg(["--output", keyFile, "--export"]);
    if (!(await readFile(keyFile)).length) throw new Error("gpg exported an empty key");
    return { root, keyFile, packageName, packageFile, packagePath: `${pool}/${packageName}_1.0_all.deb` };
  } finally {
    await execa("gpgconf", ["--kill", "gpg-agent"], { env: { GNUPGHOME: gnupg }, reject: false });
  }
}
