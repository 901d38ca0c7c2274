// node tcp-to-unix.mjs PORT SOCKET: every TCP connection to 0.0.0.0:PORT is passed to the Unix
// socket SOCKET and back. Started in an engine's network namespace (which has no route out), it
// lets builds reach a server that listens on a socket file in the host's namespace: socket files
// belong to the file system, not to a network namespace (scripts/engine/netns-server.ts).
import { connect, createServer } from "node:net";

const [port, socket] = process.argv.slice(2);
createServer((client) => {
  const upstream = connect(socket);
  client.pipe(upstream).pipe(client);
  upstream.on("error", () => client.destroy());
  client.on("error", () => upstream.destroy());
}).listen(Number(port), "0.0.0.0");
