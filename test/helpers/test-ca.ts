import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { ensureHostTools } from "../../scripts/engine/host.ts";

export interface TestCa {
  /** The CA's certificate (PEM): what --ca-cert is given. */
  caFile: string;
  /** The CA's private key (what a CA file must never be). */
  caKey: string;
  /** A line of the CA certificate's base64, to search an image's blobs for. */
  caLine: string;
  /** A server certificate from that CA for `address`, and its key, for a TLS server. */
  tls: { key: string; cert: string };
}

/**
 * A CA made with openssl, as a TLS-inspecting proxy or an internal mirror has, and a server
 * certificate from it for the IP address build steps reach (the engine's bridge gateway).
 */
export async function makeTestCa(dir: string, address: string): Promise<TestCa> {
  await ensureHostTools([{ path: "/usr/bin/openssl", pkg: "openssl" }], (line) => process.stderr.write(`${line}\n`));
  const openssl = (args: string[]) => execa("openssl", args, { cwd: dir });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caFile = join(dir, "test-ca.pem");
  await openssl(["req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", caFile, "-days", "2", "-subj", "/CN=IOPaint images test CA"]);
  await openssl(["req", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=iopaint-test-server"]);
  await writeFile(join(dir, "server.ext"), `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth\n`);
  await openssl(["x509", "-req", "-in", "server.csr", "-CA", caFile, "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
  const caLine = (await readFile(caFile, "utf8")).split("\n")[1];
  if (caLine.length < 60) throw new Error(`openssl wrote an unexpected certificate: ${caFile}`);
  return { caFile, caKey: join(dir, "ca.key"), caLine, tls: { key: join(dir, "server.key"), cert: join(dir, "server.pem") } };
}
