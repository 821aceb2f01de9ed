// The MessagePack hub protocol with the official client (`@microsoft/signalr-protocol-msgpack`):
// the same updates, in order, with the same fields; stateful reconnect, resume in the URL across
// gateways and the Resume method over binary frames; a dashboard that mixes JSON and MessagePack
// connections; malformed binary input closing only its own connection; negotiate version 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import WebSocket from "ws";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { decode, encode } from "@msgpack/msgpack";
import {
  env, token, build, record, statusChange, publish, proxy, sleep, waitFor, hubUrl, failsOverAndResumes,
} from "./helpers.mjs";

const msgpack = () => new MessagePackHubProtocol();
const steps = [["Draft", "Confirmed"], ["Confirmed", "Processing"], ["Processing", "Shipped"], ["Shipped", "Delivered"]];

test("four status changes arrive in order with the JSON protocol's fields", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const c = build(env.a, () => token({ sub: user }), { protocol: msgpack(), reconnect: false });
  const got = record(c);
  await c.start();
  const sent = [];
  for (const [o, n] of steps) sent.push((await statusChange(user, order, o, n, "ORD-42")).position);
  await waitFor(() => got.length === 4, "four updates");
  assert.deepEqual(got.map((m) => m.position), sent);
  assert.deepEqual(got.map((m) => m.newStatus), ["Confirmed", "Processing", "Shipped", "Delivered"]);
  const first = got[0];
  assert.equal(first.orderId, order);
  assert.equal(first.orderNumber, "ORD-42");
  assert.equal(first.oldStatus, "Draft");
  // The MessagePack timestamp extension, which the client turns into a Date.
  assert.ok(first.updatedAt instanceof Date, `updatedAt is ${typeof first.updatedAt}`);
  assert.ok(Math.abs(first.updatedAt.getTime() - Date.now()) < 60_000);
  assert.equal(first.reason, "");
  await c.stop();
});

test("MessagePack: the cancel reason and WatchStock's stock levels", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const c = build(env.b, () => token({ sub: user }), { protocol: msgpack(), reconnect: false });
  const got = record(c, ["OrderStatusChanged", "StockLevelChanged"]);
  await c.start();
  await c.invoke("WatchStock");
  const cancelled = await statusChange(user, order, "Confirmed", "Cancelled", "ORD-43", "Payment failed — é");
  const sku = `SKU-M-${crypto.randomUUID().slice(0, 8)}`;
  await publish({ kind: "stock", sku, old: 5, new: 4, threshold: 2, version: 3 });
  const level = () => got.find((m) => m.method === "StockLevelChanged" && m.sku === sku);
  await waitFor(() => got.some((m) => m.method === "OrderStatusChanged") && level(), "reason and level");
  const status = got.find((m) => m.method === "OrderStatusChanged");
  assert.equal(status.position, cancelled.position);
  assert.equal(status.reason, "Payment failed — é");
  assert.deepEqual(level(), { method: "StockLevelChanged", productId: level().productId, sku, stockLevel: 4, version: 3 });
  await c.stop();
});

test("stateful reconnect over binary frames: each message once, in order", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const lb = await proxy(env.a);
  const c = build(lb.url, () => token({ sub: user }), { stateful: true, protocol: msgpack() });
  const got = record(c);
  let reconnecting = 0;
  c.onreconnecting(() => reconnecting++);
  await c.start();
  const sent = [];
  for (const [o, n] of steps.slice(0, 2)) sent.push((await statusChange(user, order, o, n)).position);
  await waitFor(() => got.length === 2, "first two");
  lb.cut();
  for (const [o, n] of steps.slice(2)) sent.push((await statusChange(user, order, o, n)).position);
  await waitFor(() => got.length >= 4, "all four");
  await sleep(1500);
  assert.deepEqual(got.map((m) => m.position), sent);
  assert.equal(reconnecting, 0, "the app never noticed");
  await c.stop();
  lb.close();
});

test("resume in the URL on another gateway: missed then live, once, in order", () =>
  failsOverAndResumes({ protocol: msgpack() }));

test("the Resume method answers with a MessagePack completion", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const seen = (await statusChange(user, order, "Draft", "Confirmed")).position;
  const missed = (await statusChange(user, order, "Confirmed", "Processing")).position;
  const c = build(env.b, () => token({ sub: user }), { protocol: msgpack(), reconnect: false });
  const got = record(c);
  await c.start();
  assert.deepEqual(await c.invoke("Resume", [seen]), { status: "ok", replayed: 1 });
  assert.deepEqual(got.map((m) => m.position), [missed]);
  await assert.rejects(c.invoke("NoSuchMethod"), /Method does not exist/);
  await c.stop();
});

test("one dashboard, both protocols: every admin gets every new order", async () => {
  // One token per connection: the client asks its factory again for the socket.
  const [admin1, admin2] = [token({ admin: true }), token({ admin: true })];
  const json = build(env.a, () => admin1, { reconnect: false });
  const binary = build(env.a, () => admin2, { protocol: msgpack(), reconnect: false });
  const got = [record(json, ["NewOrderCreated"]), record(binary, ["NewOrderCreated"])];
  await json.start();
  await binary.start();
  await json.invoke("JoinAdminDashboard");
  await binary.invoke("JoinAdminDashboard");
  const { position } = await publish({
    kind: "created", customerId: crypto.randomUUID(), orderId: crypto.randomUUID(),
    orderNumber: "ORD-7", totalMinor: 1234, customerName: "Ada",
  });
  await waitFor(() => got.every((g) => g.some((m) => m.position === position)), "both admins");
  const [a, b] = got.map((g) => g.find((m) => m.position === position));
  // Integer minor units and the currency in both protocols (MessagePack: an integer, not a float 64).
  for (const m of [a, b]) {
    assert.equal(m.totalMinor, 1234);
    assert.ok(Number.isInteger(m.totalMinor));
    assert.equal(m.currency, "EUR");
    assert.equal(m.total, undefined);
  }
  assert.equal(a.customerName, b.customerName);
  assert.equal(typeof a.createdAt, "string");
  assert.ok(b.createdAt instanceof Date);
  assert.equal(new Date(a.createdAt).getTime(), b.createdAt.getTime());
  await json.stop();
  await binary.stop();
});

/** A raw MessagePack connection after the handshake; `messages()` decodes what arrived. */
async function rawSocket(base) {
  const jwt = token();
  const res = await fetch(`${hubUrl(base)}/negotiate?negotiateVersion=1`, {
    method: "POST", headers: { authorization: `Bearer ${jwt}` },
  });
  const body = await res.json();
  assert.deepEqual(body.availableTransports[0], { transport: "WebSockets", transferFormats: ["Text", "Binary"] });
  const ws = new WebSocket(`${base.replace("http", "ws")}/hubs/orders?id=${body.connectionToken}`, { headers: { Authorization: `Bearer ${jwt}` } });
  const frames = [];
  // ws 7 hands text messages over as strings and binary ones as Buffers.
  ws.on("message", (data) => frames.push({ data: Buffer.from(data), isBinary: typeof data !== "string" }));
  const closed = new Promise((resolve) => ws.on("close", resolve));
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  ws.send('{"protocol":"messagepack","version":1}\u001e');
  await waitFor(() => frames.length >= 1, "handshake");
  assert.equal(frames[0].data.toString(), "{}\u001e");
  assert.equal(frames[0].isBinary, true, "the handshake answer is binary, as ASP.NET Core sends it");
  return { ws, frames, closed };
}

/** The hub messages of one binary frame (VarInt length prefixes). */
function parseFrame(buf) {
  const out = [];
  let at = 0;
  while (at < buf.length) {
    let len = 0, shift = 0, b;
    do { b = buf[at++]; len |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    out.push(decode(buf.subarray(at, at + len)));
    at += len;
  }
  return out;
}

const framed = (bytes) => Buffer.concat([Buffer.from([bytes.length]), Buffer.from(bytes)]);

test("malformed MessagePack closes only that connection, with a clear error", async () => {
  const user = crypto.randomUUID();
  const healthy = build(env.a, () => token({ sub: user }), { protocol: msgpack() });
  const got = record(healthy);
  await healthy.start();
  const cases = [
    ["truncated length prefix", Buffer.from([0x80])],
    ["wrong arity", framed(encode([1, {}]))],
    ["oversize length prefix", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07, 0x91, 0x06])],
    ["text frame", "{\"type\":6}\u001e"],
  ];
  for (const [what, garbage] of cases) {
    const { ws, frames, closed } = await rawSocket(env.a);
    ws.send(garbage);
    await closed;
    const last = frames.at(-1);
    assert.ok(last.isBinary, what);
    const [close] = parseFrame(last.data);
    assert.equal(close[0], 7, `${what}: a Close message`);
    assert.ok(close[1].length > 0, `${what}: with an error`);
    assert.equal(close[2], false, `${what}: a protocol error is final`);
  }
  const p = await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed");
  await waitFor(() => got.length === 1, "healthy connection still served");
  assert.equal(got[0].position, p.position);
  await healthy.stop();
});

test("negotiate version 0: the connectionId is the token, and it works as the id", async () => {
  const user = crypto.randomUUID();
  const jwt = token({ sub: user });
  const res = await fetch(`${hubUrl(env.a)}/negotiate`, { method: "POST", headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.negotiateVersion, 0);
  assert.equal(body.connectionToken, undefined);
  assert.ok(body.connectionId.length > 40, "a sealed token, not a guessable id");
  // The id is bound to its user: another user's JWT cannot use it.
  const stranger = new WebSocket(`${env.a.replace("http", "ws")}/hubs/orders?id=${body.connectionId}`, { headers: { Authorization: `Bearer ${token()}` } });
  const refused = await new Promise((resolve) => {
    stranger.on("unexpected-response", (_req, r) => resolve(r.statusCode));
    stranger.on("open", () => resolve(101));
  });
  assert.equal(refused, 403);
  const ws = new WebSocket(`${env.a.replace("http", "ws")}/hubs/orders?id=${body.connectionId}`, { headers: { Authorization: `Bearer ${jwt}` } });
  const frames = [];
  ws.on("message", (data) => frames.push(data.toString()));
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  ws.send('{"protocol":"json","version":1}\u001e');
  await waitFor(() => frames.length >= 1, "handshake");
  const p = await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed");
  await waitFor(() => frames.some((f) => f.includes(p.position)), "an update");
  ws.close();
});
