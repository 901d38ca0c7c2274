/**
 * Why a build command failed, from its output or buildx's record of it: a build step, a push
 * the registry did not take, a platform the host cannot run, or a lost daemon. Pure: text in,
 * one message, a hint and the exit code out. Recognised from what buildx, BuildKit and `docker push` print (captured from
 * real runs in test/fixtures/progress/, checked in test/unit/failure.test.ts).
 */
import { ExitCode } from "../../generator/exit-codes.ts";
import { unreachableNodes, type Builder } from "../docker/builder.ts";
import { describeFailure, parseProgress, type BuildReport } from "./progress.ts";

export interface FailureExplanation {
  message: string;
  hint?: string;
  exitCode: number;
}

/**
 * What npm (Node's error codes), pip (Python's ssl) and apt (GnuTLS) print when a server's
 * certificate comes from a CA they do not trust: a TLS-inspecting proxy, an internal mirror.
 */
const UNTRUSTED_CERTIFICATE =
  /(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_UNTRUSTED|CERTIFICATE_VERIFY_FAILED|certificate verification failed|The certificate is NOT trusted)/;

/** What npm, pip and apt print when a step cannot reach its server at all (no route, no name, refused). */
const UNREACHABLE_SERVER = /(EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|Temporary failure resolving|Failed to establish a new connection|Could not connect to)/;

/** Network errors that mean nothing answers at the registry's address. */
const UNREACHABLE = /(connection refused|no such host|i\/o timeout|network is unreachable|no route to host|server misbehaving)/;

/**
 * Pure: a failed build's cause when nodes of a builder on other machines (inspected after the
 * failure) no longer answer: buildx then reports only a broken connection. buildx pushes an
 * image's tags once every platform of it is built, so none points at an index with a platform
 * missing; undefined when every node still runs.
 */
export function lostNodes(builder: Builder | undefined): FailureExplanation | undefined {
  const lost = unreachableNodes(builder);
  if (!builder || !lost.length) return undefined;
  const named = lost.map((node) => `${node.name} (${node.endpoint})`).join(", ");
  return {
    message: `node ${named} of the ${builder.name} builder stopped answering during the build, so what it was building failed; no tag of an image it built part of was pushed`,
    hint: `start the BuildKit daemon again and build again (what the other nodes finished is in their cache), or build without the node: docker buildx create --leave --name ${builder.name} --node ${lost[0].name}`,
    exitCode: ExitCode.failed,
  };
}

/**
 * `printed`: what the command printed (plain progress; "" when it wrote to the terminal itself).
 * `foreignPlatforms`: the platforms being built that are not the host's, for which an "exec
 * format error" means no emulator. `records`: the failed builds as buildx's history keeps them
 * (scripts/docker/build-history.ts), read where the printed text is not enough.
 */
export function explainFailure(printed: string, foreignPlatforms: readonly string[] = [], records: readonly BuildReport[] = []): FailureExplanation {
  const recorded = records.find((r) => r.failed);
  // What the failed step printed counts as printed: a push or an emulator error shows up there.
  const output = [printed, ...(recorded ? recorded.failed!.output : [])].join("\n");
  const push = pushFailure(output);
  if (push) return push;

  // buildx 0.20+ stops before building when a local path lies outside the directory bake runs in.
  if (/ERROR: additional privileges requested/.test(output)) {
    // What buildx asked for, from its line 'Pass "--allow=fs.read=… --allow=…" to grant requested privileges.'
    const asked = /^Pass "([^"]+)" to grant requested privileges/m.exec(output)?.[1] ?? "";
    const grants = asked
      .split(/\s+/)
      .filter((flag) => flag.startsWith("--allow="))
      .map((flag) => flag.slice("--allow=".length));
    return {
      message: `buildx refused to build: it was not granted ${grants.length ? grants.join(", ") : "access to a path"} (filesystem entitlements, buildx 0.20 and later), so nothing was built`,
      hint: `keep the checkout inside the directory bake runs in (IOPaint/ in the repository root, the default layout), or pass ${grants.length ? grants.map((g) => `--allow=${g}`).join(" ") : "--allow=fs.read=PATH"} to docker buildx bake; npm run bake grants the paths it knows of itself (see docs/building.md)`,
      exitCode: ExitCode.environment,
    };
  }

  if (/exec format error/.test(output) && foreignPlatforms.length) {
    return {
      message: `this host cannot run programs for ${foreignPlatforms.join(", ")}: a RUN step for it failed with "exec format error" (the kernel has no enabled emulator for it in binfmt_misc)`,
      hint: `register QEMU's handlers (Debian/Ubuntu: apt-get install qemu-user-static; anywhere: docker run --privileged --rm tonistiigi/binfmt --install ${foreignPlatforms.map((p) => p.split("/")[1]).join(",")}; GitHub Actions: docker/setup-qemu-action), or build the host's own platform only (leave IOPAINT_PLATFORMS unset, or pass --platform with the host's platform)`,
      exitCode: ExitCode.environment,
    };
  }

  const report = recorded ?? parseProgress(printed);
  if (report.failed) {
    const image = /^\[internal\] load metadata for (\S+)/.exec(report.failed.name)?.[1];
    const stepOutput = report.failed.output.join("\n");
    const certificate = UNTRUSTED_CERTIFICATE.exec(stepOutput)?.[1];
    const unreachable = UNREACHABLE_SERVER.exec(stepOutput)?.[1];
    const hint = image
      ? `the builder could not look up the base image ${image}: check the network and registry login, or, without a network, docker load it and build with --offline`
      : certificate
        ? `${certificate}: a server's TLS certificate is signed by a CA this step does not trust (a TLS-inspecting proxy, an internal mirror); give that CA's certificate with --ca-cert FILE (npm run bake) or IOPAINT_CA_CERT=FILE (docker buildx bake)`
        : unreachable
          ? `${unreachable}: the step could not reach its server; behind a firewall, point it at a mirror (IOPAINT_NPM_REGISTRY, IOPAINT_PIP_INDEX_URL, IOPAINT_TORCH_INDEX_URL, IOPAINT_DEBIAN_MIRROR, IOPAINT_UBUNTU_MIRROR) or a proxy (HTTPS_PROXY and HTTP_PROXY in npm run bake's environment); see docs/building.md`
          : undefined;
    return { message: `the build failed at ${describeFailure(report.failed)}`, ...(hint ? { hint } : {}), exitCode: ExitCode.failed };
  }
  if (/Cannot connect to the Docker daemon|connection refused|EOF\s*$/m.test(output)) {
    return { message: "the connection to the Docker daemon was lost during the build (did it stop or restart?)", exitCode: ExitCode.failed };
  }
  if (!output.trim()) return { message: "the build failed (buildx's own message is above)", exitCode: ExitCode.failed };
  return { message: `the build failed:\n${lastLines(output, 10)}`, exitCode: ExitCode.failed };
}

/**
 * A push that did not happen: buildx says `failed to push <ref>: <reason>`, `docker push` names
 * the registry's URL in its error. Unreachable and refused are told apart, since the fixes differ.
 */
function pushFailure(output: string): FailureExplanation | undefined {
  const buildx = /failed to push ([^\s:]+(?::\d+)?\/[^\s:]+(?::[\w][\w.-]*)?): (.*)$/m.exec(output);
  const dockerPush = /^The push refers to repository \[([^\]]+)\]/m.exec(output);
  if (!buildx && !dockerPush) return undefined;
  const ref = buildx?.[1] ?? dockerPush![1];
  const registry = ref.includes("/") ? ref.split("/")[0] : "docker.io";
  const reason = (buildx?.[2] ?? lastLines(output, 1).replace(/^\s*\|\s*/, "")).trim();
  if (UNREACHABLE.test(reason)) {
    return {
      message: `nothing answers at the registry ${registry}, so ${ref} was not pushed (${reason.match(UNREACHABLE)![1]})`,
      hint: `start the registry, or push elsewhere: IOPAINT_IMAGE names the repository (now ${ref.replace(/:[^/:]+$/, "")}); the images were built and stay in the build cache`,
      exitCode: ExitCode.environment,
    };
  }
  return {
    message: `the registry ${registry} refused the push of ${ref}: ${shorten(reason)}`,
    hint: `log in with docker login ${registry} as a user that may write to that repository (or check that the registry accepts pushes: a read-only or full registry refuses them); the images were built and stay in the build cache`,
    exitCode: ExitCode.environment,
  };
}

/** buildx nests the HTTP request into the reason; the registry's own words are at the end. */
function shorten(reason: string): string {
  return reason.length > 300 ? `…${reason.slice(-300)}` : reason;
}

function lastLines(output: string, count: number): string {
  return output
    .trim()
    .split("\n")
    .slice(-count)
    .map((line) => `  | ${line}`)
    .join("\n");
}
