// node forward.mjs LISTEN TARGET: every connection to LISTEN is passed to TARGET and back. Each is
// HOST:PORT, a bare PORT (0.0.0.0:PORT to listen, 127.0.0.1:PORT to reach) or the path of a Unix
// socket. Started in a network namespace, it is how that namespace reaches a server of another:
// socket files belong to the file system, not to a network namespace, and a namespace joined to
// another by a veth pair reaches its addresses (scripts/engine/netns-server.ts, buildkit-nodes.ts).
import { connect, createServer } from "node:net";

/** `{ path }` for a socket file, else `{ host, port }`. */
function endpoint(text, defaultHost) {
  if (text.startsWith("/")) return { path: text };
  const match = /^(?:(.+):)?(\d+)$/.exec(text);
  if (!match) throw new Error(`not HOST:PORT, PORT or /socket/path: ${text}`);
  return { host: match[1] ?? defaultHost, port: Number(match[2]) };
}

const [listen, target] = process.argv.slice(2).map((text, i) => endpoint(text, i === 0 ? "0.0.0.0" : "127.0.0.1"));
createServer((client) => {
  const upstream = connect(target);
  client.pipe(upstream).pipe(client);
  upstream.on("error", () => client.destroy());
  client.on("error", () => upstream.destroy());
}).listen(listen);
