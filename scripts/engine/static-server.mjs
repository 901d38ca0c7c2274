// node static-server.mjs DIR PORT [KEY CERT]: serves DIR's files on 0.0.0.0:PORT, read-only (a
// directory by its index.html, as a PEP 503 index is laid out), over TLS when given a key and a
// certificate, logging each request ("GET /path 200"), for the tests' package mirrors
// (scripts/engine/netns-server.ts).
import { createReadStream, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { join, normalize } from "node:path";

const [dir, port, key, cert] = process.argv.slice(2);
const serve = (request, response) => {
  const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
  let file = join(dir, path);
  let status = 404;
  try {
    if (!path.includes("..") && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!path.includes("..") && statSync(file).isFile()) status = 200;
  } catch {}
  console.log(`${request.method} ${path} ${status}`);
  if (status !== 200) return response.writeHead(status).end();
  // pip reads an index page only when it says it is HTML.
  response.writeHead(200, { "content-length": statSync(file).size, "content-type": file.endsWith(".html") ? "text/html" : "application/octet-stream" });
  if (request.method === "HEAD") return response.end();
  createReadStream(file).pipe(response);
};
const server = key ? createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, serve) : createServer(serve);
server.listen(Number(port), "0.0.0.0", () => console.log(`listening on ${key ? "https" : "http"}://0.0.0.0:${port}`));
