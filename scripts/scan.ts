// npm run scan -- [TARGET|GROUP ...]: a vulnerability scan of the built images with Trivy or Grype,
// failing on HIGH or CRITICAL findings. The image names come from the config through the bake
// file, exactly as `npm run bake` tags them, so IOPAINT_IMAGE and IOPAINT_VERSION apply here too.
import { execa } from "execa";
import { resolveBake } from "../generator/bake/resolve.ts";
import { OUTPUT_FILES } from "../generator/compile.ts";
import { fail } from "../generator/errors.ts";
import { ExitCode } from "../generator/exit-codes.ts";
import { compileConfigOption, DEFAULT_CONFIG, REPO_ROOT } from "../generator/repo.ts";
import { parseCommandLine, runCli } from "../generator/run-cli.ts";
import { findScanner, INSTALL_DOCS, scanArgs, SCANNERS, type ScannerName } from "./scan/scanners.ts";

const HELP = `Usage: npm run scan -- [TARGET|GROUP ...] [options]

Scans each image (default: the cpu target's, e.g. iopaint:cpu-latest) from the local Docker
daemon with trivy, or grype when trivy is not installed, and fails on HIGH or CRITICAL findings:
  trivy image --exit-code 1 --severity HIGH,CRITICAL --image-src docker IMAGE
  grype docker:IMAGE --fail-on high
Build the image first (npm run bake -- cpu). Image names follow IOPAINT_IMAGE and IOPAINT_VERSION.

Options:
  --scanner trivy|grype   use this one only (default: the first of ${SCANNERS.join(", ")} on PATH)
  --image REF             scan REF instead of the target's image
  --config FILE           the config (default ${DEFAULT_CONFIG})
  -h, --help              this text

Exit codes: ${ExitCode.ok} no HIGH or CRITICAL findings, ${ExitCode.failed} findings (or the scanner failed; its output says which),
            ${ExitCode.badInput} usage (unknown target or scanner), ${ExitCode.environment} no scanner installed or unreadable config,
            ${ExitCode.internal} internal error.`;

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    { args: argv, allowPositionals: true, options: { scanner: { type: "string" }, image: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } } },
    "see npm run scan -- --help",
  );
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return ExitCode.ok;
  }
  const only = values.scanner as ScannerName | undefined;
  if (only !== undefined && !SCANNERS.includes(only)) fail({ kind: "usage", message: `--scanner must be ${SCANNERS.join(" or ")}, not ${only}` });

  // The images first, so a wrong target is reported even where no scanner is installed.
  const images = values.image ? [{ target: values.image, image: values.image }] : await imagesOf(positionals.length ? positionals : ["cpu"], values.config);

  const scanner = findScanner(process.env.PATH, only);
  if (!scanner) {
    const wanted = only ? [only] : [...SCANNERS];
    const listed = wanted.map((name) => `\`${name}\``);
    const missing = listed.length > 1 ? `neither ${listed.join(" nor ")} is` : `${listed[0]} is not`;
    fail({
      kind: "environment",
      message: `no image scanner found: ${missing} on PATH, so ${images.map((i) => i.image).join(", ")} cannot be scanned`,
      hint: `install ${wanted.map((name) => `${name} (${INSTALL_DOCS[name]})`).join(" or ")}, then run npm run scan again`,
    });
  }

  let worst: number = ExitCode.ok;
  for (const { target, image } of images) {
    const args = scanArgs(scanner.name, image);
    process.stderr.write(`== ${target}: ${scanner.name} ${args.join(" ")}\n`);
    const result = await execa(scanner.path, args, { stdio: "inherit", reject: false });
    if (result.exitCode === 0) {
      process.stderr.write(`${target}: ${image}: no HIGH or CRITICAL vulnerabilities\n`);
    } else {
      process.stderr.write(`error: ${target}: ${image}: ${scanner.name} exited with ${result.exitCode ?? result.signal}: HIGH or CRITICAL findings, or it could not scan (see its output above)\n`);
      worst = ExitCode.failed;
    }
  }
  return worst;
}

/** Each requested target's first tag (<image>:<target>-latest), resolved from the config's bake file. */
async function imagesOf(requested: string[], config: string | undefined): Promise<{ target: string; image: string }[]> {
  const { outputs } = await compileConfigOption(config, REPO_ROOT);
  const targets = resolveBake(outputs[OUTPUT_FILES.bake], requested, process.env).target;
  return Object.entries(targets).map(([target, resolved]) => {
    if (!resolved.tags.length) fail({ kind: "usage", message: `target ${target} has no tags to scan`, hint: "pass --image REF" });
    return { target, image: resolved.tags[0] };
  });
}

await runCli(main, process.argv.slice(2));
