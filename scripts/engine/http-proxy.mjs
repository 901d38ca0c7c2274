// node http-proxy.mjs PORT|SOCKET: a forward HTTP proxy on 0.0.0.0:PORT, or on a Unix socket
// (absolute-URI requests and CONNECT tunnels), logging each request it forwards ("GET
// http://host/path", "CONNECT host:443"), for the tests' builds behind a proxy
// (scripts/engine/netns-server.ts). Anything else gets 200.
import { createServer, request } from "node:http";
import { connect } from "node:net";

const [port] = process.argv.slice(2);
const server = createServer((incoming, answer) => {
  if (!/^https?:\/\//.test(incoming.url)) return answer.writeHead(200).end("a forward proxy\n");
  console.log(`${incoming.method} ${incoming.url}`);
  const url = new URL(incoming.url);
  const headers = { ...incoming.headers };
  delete headers["proxy-connection"];
  delete headers["proxy-authorization"];
  const upstream = request({ host: url.hostname, port: url.port || 80, path: `${url.pathname}${url.search}`, method: incoming.method, headers }, (reply) => {
    answer.writeHead(reply.statusCode, reply.headers);
    reply.pipe(answer);
  });
  upstream.on("error", (error) => answer.headersSent ? answer.destroy() : answer.writeHead(502).end(`${error}\n`));
  incoming.pipe(upstream);
});
server.on("connect", (incoming, client, head) => {
  console.log(`CONNECT ${incoming.url}`);
  const [host, targetPort] = incoming.url.split(":");
  const upstream = connect(Number(targetPort), host, () => {
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on("error", () => client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n"));
  client.on("error", () => upstream.destroy());
});
// A socket file is how a namespace without a route out reaches this proxy (forward.mjs).
if (/^\d+$/.test(port)) server.listen(Number(port), "0.0.0.0");
else server.listen(port);
