// What the SignalR client scripts of tests/scale-out/clients and tests/chaos/clients (which
// imports this file by relative path) share: the JSON-lines output, the small TCP proxies that
// play the load balancer in front of the gateways, and the clients' life cycle. It needs nothing
// but Node itself.
import net from "node:net";

/** Writes one JSON line to stdout (the Rust side reads them). */
export const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

/**
 * Starts a client per spec with `runClient`, which resolves to its connection (a failure is
 * reported as an `error` line). Once stdin closes: `onStdinEnd()`, then every connection stops,
 * the `proxies` close and the process exits.
 */
export async function runClients(specs, runClient, proxies, onStdinEnd) {
  const connections = await Promise.all(specs.map((spec) =>
    runClient(spec).catch((e) => { out({ c: spec.id, t: "error", e: `start: ${e}` }); return null; })));
  process.stdin.resume();
  process.stdin.on("end", async () => {
    onStdinEnd();
    await Promise.all(connections.filter(Boolean).map((c) => c.stop()));
    for (const p of proxies) { for (const s of p.sockets) s.destroy(); p.server.close(); }
    process.exit(0);
  });
}

/**
 * A TCP server on a free loopback port that hands every client socket to `onClient`, keeping
 * the open ones in `sockets` so that the caller can destroy them at the end. Resolves to
 * `{ url, server, sockets }`.
 */
export function proxyServer(onClient) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    onClient(client);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () =>
    resolve({ url: `http://127.0.0.1:${server.address().port}`, server, sockets })));
}

/**
 * Pipes the paused `client` to the first of `targets` (URLs) that accepts a connection, after
 * writing `first` (bytes already read from the client) when given; destroys it when none does.
 */
export function pipeToFirstAccepting(client, targets, first) {
  const attempt = (i) => {
    if (i >= targets.length) { client.destroy(); return; }
    const u = new URL(targets[i]);
    const upstream = net.connect(Number(u.port), u.hostname);
    upstream.once("error", () => { upstream.destroy(); attempt(i + 1); });
    upstream.once("connect", () => {
      upstream.removeAllListeners("error");
      upstream.on("error", () => client.destroy());
      upstream.on("close", () => client.destroy());
      client.on("close", () => upstream.destroy());
      if (first) upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };
  attempt(0);
}
