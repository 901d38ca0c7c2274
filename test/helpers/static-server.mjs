// node static-server.mjs DIR PORT: serves DIR's files over plain HTTP on 0.0.0.0:PORT, read-only,
// logging each request ("GET /path 200"), for the tests' package mirrors (test/helpers/netns-server.ts).
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

const [dir, port] = process.argv.slice(2);
createServer((request, response) => {
  const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
  const file = join(dir, path);
  let status = 404;
  try {
    if (!path.includes("..") && statSync(file).isFile()) status = 200;
  } catch {}
  console.log(`${request.method} ${path} ${status}`);
  if (status !== 200) return response.writeHead(status).end();
  response.writeHead(200, { "content-length": statSync(file).size });
  if (request.method === "HEAD") return response.end();
  createReadStream(file).pipe(response);
}).listen(Number(port), "0.0.0.0");
