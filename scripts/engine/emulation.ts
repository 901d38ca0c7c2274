/**
 * arm64 containers on an amd64 host, through QEMU user emulation registered with the kernel's
 * binfmt_misc. Debian's qemu-user-static registers its handlers with an interpreter path inside
 * the host's file system (/usr/libexec/qemu-binfmt/…-binfmt-P) that no container can see; the
 * `F` flag makes the kernel open the interpreter once, at registration, so that it works in
 * every mount namespace (containers, chroots). See /work/shared/docker-engine-here.md, "arm64
 * under emulation".
 *
 * binfmt_misc is the kernel's, not the engine's: a registration here is seen by the whole machine.
 */
import fs from "node:fs";
import { execa } from "execa";
import { aptInstall, requireRoot } from "./host.ts";

const BINFMT = "/proc/sys/fs/binfmt_misc";
const ENTRY = `${BINFMT}/qemu-aarch64`;
const INTERPRETER = "/usr/bin/qemu-aarch64-static";
/** Debian's description of the aarch64 handler (magic and mask), installed by qemu-user-static. */
const DEBIAN_FORMAT = "/usr/share/binfmts/qemu-aarch64";

export type Emulation = { ok: true; how: string } | { ok: false; reason: string };

/** What an entry under /proc/sys/fs/binfmt_misc says (`enabled`, `interpreter …`, `flags: F`, …). */
export function parseBinfmtEntry(text: string): { enabled: boolean; interpreter?: string; flags: string } {
  const field = (name: string) => new RegExp(`^${name}:? (.*)$`, "m").exec(text)?.[1]?.trim();
  return { enabled: /^enabled$/m.test(text), interpreter: field("interpreter"), flags: field("flags") ?? "" };
}

/** The line written to binfmt_misc's `register` for Debian's aarch64 format, with the `F` flag. */
export function registrationLine(debianFormat: string, interpreter = INTERPRETER): string {
  const field = (name: string) => {
    const value = new RegExp(`^${name} (.*)$`, "m").exec(debianFormat)?.[1]?.trim();
    if (value === undefined) throw new Error(`${DEBIAN_FORMAT} has no "${name}" line`);
    return value;
  };
  return `:qemu-aarch64:M:${field("offset")}:${field("magic")}:${field("mask")}:${interpreter}:F`;
}

/**
 * Makes linux/arm64 containers runnable, or says why they cannot be: a native arm64 host needs
 * nothing; else binfmt_misc is mounted if it is not, qemu-user-static is installed if missing,
 * and the aarch64 handler is (re-)registered with the static interpreter and the `F` flag.
 */
export async function ensureArm64Emulation(log: (line: string) => void): Promise<Emulation> {
  if (process.arch === "arm64") return { ok: true, how: "native arm64 host" };
  if (process.arch !== "x64") return { ok: false, reason: `no recipe for arm64 emulation on a ${process.arch} host` };
  const current = () => (fs.existsSync(ENTRY) ? parseBinfmtEntry(fs.readFileSync(ENTRY, "utf8")) : undefined);
  const ready = (entry = current()) => entry?.enabled && entry.flags.includes("F") && entry.interpreter !== undefined && fs.existsSync(entry.interpreter);
  if (ready()) return { ok: true, how: `QEMU (${current()!.interpreter}, binfmt_misc flag F)` };

  requireRoot("registering QEMU's arm64 handler with binfmt_misc");
  if (!fs.existsSync(`${BINFMT}/register`)) {
    const mounted = await execa("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT], { reject: false, all: true });
    if (mounted.exitCode !== 0 || !fs.existsSync(`${BINFMT}/register`)) {
      return {
        ok: false,
        reason: `the kernel offers no binfmt_misc here (mount -t binfmt_misc: ${String(mounted.all).trim() || `exit ${mounted.exitCode}`}), so arm64 programs cannot run on this ${process.arch} host`,
      };
    }
  }
  if (!fs.existsSync(INTERPRETER) || !fs.existsSync(DEBIAN_FORMAT)) await aptInstall(["qemu-user-static"], log);
  if (fs.existsSync(ENTRY)) fs.writeFileSync(ENTRY, "-1"); // Debian's own registration (flags PF, a host path) goes
  try {
    fs.writeFileSync(`${BINFMT}/register`, registrationLine(fs.readFileSync(DEBIAN_FORMAT, "utf8")));
  } catch (error) {
    return { ok: false, reason: `binfmt_misc refused the aarch64 handler: ${(error as Error).message}` };
  }
  if (!ready()) return { ok: false, reason: `binfmt_misc took the aarch64 handler but does not show it enabled with flag F (${ENTRY})` };
  log(`[engine] registered QEMU's aarch64 handler (${INTERPRETER}, flag F): linux/arm64 containers run under emulation`);
  return { ok: true, how: `QEMU (${INTERPRETER}, binfmt_misc flag F)` };
}

/**
 * Turns the registered aarch64 handler off or back on (binfmt_misc's per-entry switch), so that a
 * test can show what a host without emulation does; the registration itself stays. Machine-wide:
 * callers turn it back on in a `finally`.
 */
export function setArm64Emulation(enabled: boolean): void {
  if (!fs.existsSync(ENTRY)) throw new Error(`${ENTRY} does not exist: no aarch64 handler is registered`);
  fs.writeFileSync(ENTRY, enabled ? "1" : "0");
}
