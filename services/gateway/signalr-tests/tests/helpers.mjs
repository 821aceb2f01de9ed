// Shared helpers for the Node suite: tokens (HS256, plus deliberately forged ones), the control
// endpoint that publishes real protobuf events, connection builders for the official client,
// raw upgrade probes, a small TCP proxy that plays the load balancer in fail-over tests, and the
// fail-over check itself (`failsOverAndResumes`), run for every protocol and transport.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import * as signalR from "@microsoft/signalr";

export const env = {
  a: process.env.GATEWAY_A_URL,
  b: process.env.GATEWAY_B_URL,
  drain: process.env.GATEWAY_DRAIN_URL,
  drainPid: Number(process.env.GATEWAY_DRAIN_PID),
  logs: (process.env.GATEWAY_LOGS ?? "").split(",").filter(Boolean),
  control: process.env.CONTROL_URL,
  issuer: process.env.JWT_ISSUER,
  audience: process.env.JWT_AUDIENCE,
  secret: process.env.JWT_SECRET,
  origin: process.env.ALLOWED_ORIGIN,
};

if (!env.a || !env.control) {
  throw new Error("run through `cargo test -p orderflow-gateway --test gateway signalr_client`");
}

/** Every token this suite hands out. */
export const issuedTokens = [];
/**
 * The launcher's file of issued tokens: it checks, after the whole suite, that no gateway log
 * holds any of them, whatever order the test files ran in.
 */
const issuedTokensFile = process.env.ISSUED_TOKENS_FILE;

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

export function sign(header, claims, secret = env.secret) {
  const body = `${b64url(header)}.${b64url(claims)}`;
  const sig = crypto.createHmac("sha256", secret).update(body).digest("base64url");
  const token = `${body}.${sig}`;
  issuedTokens.push(token);
  if (issuedTokensFile) fs.appendFileSync(issuedTokensFile, `${token}\n`);
  return token;
}

export function claims({ sub = crypto.randomUUID(), admin = false, ttl = 3600, ...over } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { sub, iss: env.issuer, aud: env.audience, iat: now, nbf: now, exp: now + ttl, roles: admin ? ["Admin"] : [], name: "Node Tester", ...over };
}

export function token(opts = {}) {
  return sign({ alg: "HS256", typ: "JWT" }, claims(opts));
}

export const hubUrl = (base) => `${base}/hubs/orders`;

/**
 * A connection built exactly like the seed's browser code (`protocol`: another hub protocol;
 * `transport`: force one transport instead of negotiating the best).
 */
export function build(base, getToken, { stateful = false, lib = signalR, reconnect = true, url, protocol, transport } = {}) {
  const options = { accessTokenFactory: getToken };
  if (transport !== undefined) options.transport = transport;
  let b = new lib.HubConnectionBuilder()
    .withUrl(url ?? hubUrl(base), options)
    .configureLogging(lib.LogLevel.None);
  if (protocol) b = b.withHubProtocol(protocol);
  if (reconnect) b = b.withAutomaticReconnect([0, 200, 500, 1000]);
  if (stateful) b = b.withStatefulReconnect();
  return b.build();
}

/**
 * Follows the web app's contract for resuming: remembers the last position per stream and,
 * when the connection is lost, puts them in the hub URL (`resume=`) for the reconnect, so the
 * gateway replays what was missed before anything live. Returns what arrived and every
 * `Resumed` result.
 */
export function resumable(connection, base, { dashboard = false } = {}) {
  const last = new Map();
  const got = [];
  const resumed = [];
  for (const m of ["OrderStatusChanged", "NewOrderCreated", "LowStockAlert"]) {
    connection.on(m, (payload) => {
      got.push({ method: m, ...payload });
      const [stream, n] = payload.position.split(":");
      if (!(Number(n) <= last.get(stream))) last.set(stream, Number(n));
    });
  }
  connection.on("Resumed", (r) => resumed.push(r));
  const url = () => {
    const u = new URL(hubUrl(base));
    if (last.size) u.searchParams.set("resume", [...last].map(([s, n]) => `${s}:${n}`).join(","));
    if (dashboard) u.searchParams.set("dashboard", "true");
    return u.toString();
  };
  connection.onreconnecting(() => { connection.baseUrl = url(); });
  return { got, resumed, positions: () => got.map((m) => m.position) };
}

/** Records every call of the given client methods. */
export function record(connection, methods = ["OrderStatusChanged", "NewOrderCreated", "LowStockAlert"]) {
  const got = [];
  for (const m of methods) connection.on(m, (payload) => got.push({ method: m, ...payload }));
  return got;
}

export async function publish(body) {
  const res = await fetch(`${env.control}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`publish failed: ${res.status}`);
  return res.json();
}

export const statusChange = (customerId, orderId, old, next, orderNumber = "ORD-1", reason = "") =>
  publish({ kind: "status", customerId, orderId, orderNumber, old, new: next, reason });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(check, what, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Raw upgrade attempt: resolves with the HTTP status (101 when upgraded). */
export function upgradeStatus(base, path, headers = {}) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, path, method: "GET",
      headers: {
        Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": crypto.randomBytes(16).toString("base64"), ...headers,
      },
    });
    req.on("upgrade", (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on("response", (res) => { res.resume(); resolve(res.statusCode); });
    req.on("error", reject);
    req.end();
  });
}

export async function negotiate(base, jwt) {
  const res = await fetch(`${hubUrl(base)}/negotiate?negotiateVersion=1`, {
    method: "POST",
    headers: jwt ? { authorization: `Bearer ${jwt}` } : {},
  });
  return { status: res.status, body: res.status === 200 ? await res.json() : await res.text() };
}

/**
 * A load balancer without affinity: each new TCP connection goes to the next target in turn,
 * so a negotiate and the WebSocket that follows it land on different gateways. `used` lists
 * the target of every connection.
 */
export function roundRobin(targets) {
  const used = [];
  let next = 0;
  const server = net.createServer((client) => {
    const target = new URL(targets[next++ % targets.length]);
    used.push(target.origin);
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) s.on("error", () => {});
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    used,
    close() { server.close(); },
  })));
}

/** A TCP proxy whose target can be switched; `cut()` kills every proxied connection. */
export function proxy(target) {
  const sockets = new Set();
  let current = new URL(target);
  let paused = false;
  const server = net.createServer((client) => {
    if (paused) { client.destroy(); return; }
    const upstream = net.connect(Number(current.port), current.hostname);
    for (const s of [client, upstream]) { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => {}); }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    retarget(t) { current = new URL(t); },
    pause() { paused = true; this.cut(); },
    unpause() { paused = false; },
    cut() { for (const s of sockets) s.destroy(); },
    close() { this.cut(); server.close(); },
  })));
}

/**
 * The fail-over every protocol and transport must survive: a client behind a "load balancer"
 * to gateway A gets one update; the link dies while two more of its updates (and someone else's)
 * are published; it reconnects through the balancer, now pointing at gateway B, with its
 * positions in the hub URL; then it has the two it missed and one live update, each once and in
 * order, after exactly one `Resumed {ok, replayed: 2}`. `options` go to `build`.
 */
export async function failsOverAndResumes(options = {}) {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const jwt = token({ sub: user });
  const lb = await proxy(env.a);
  const c = build(lb.url, () => jwt, options);
  const { resumed, positions } = resumable(c, lb.url);
  await c.start();
  const firstId = c.connectionId;
  const sent = [(await statusChange(user, order, "Draft", "Confirmed")).position];
  await waitFor(() => positions().length === 1, "first update");
  lb.pause(); // gateway A's connection dies; nothing gets through for a moment
  for (const [o, n] of [["Confirmed", "Processing"], ["Processing", "Shipped"]]) {
    sent.push((await statusChange(user, order, o, n)).position);
  }
  await statusChange(crypto.randomUUID(), crypto.randomUUID(), "Draft", "Confirmed"); // someone else's
  lb.retarget(env.b);
  lb.unpause();
  await waitFor(() => resumed.length === 1, "reconnected and resumed", 15_000);
  assert.deepEqual(resumed[0], { status: "ok", replayed: 2 });
  assert.notEqual(c.connectionId, firstId, "a new connection on gateway B");
  sent.push((await statusChange(user, order, "Shipped", "Delivered")).position);
  await waitFor(() => positions().length >= 4, "live after resume");
  await sleep(300);
  assert.deepEqual(positions(), sent);
  await c.stop();
  lb.close();
}
