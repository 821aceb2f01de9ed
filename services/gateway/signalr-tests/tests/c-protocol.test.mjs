// Protocol limits with real sockets: oversize and malformed frames close only that connection,
// with a clear error; other connections keep working.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import WebSocket from "ws";
import { env, token, build, record, negotiate, statusChange, waitFor } from "./helpers.mjs";

async function rawSocket(base) {
  const jwt = token();
  const { body } = await negotiate(base, jwt);
  const ws = new WebSocket(`${base.replace("http", "ws")}/hubs/orders?id=${body.connectionToken}`, { headers: { Authorization: `Bearer ${jwt}` } });
  const frames = [];
  ws.on("message", (data) => frames.push(data.toString()));
  const closed = new Promise((resolve) => ws.on("close", resolve));
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  ws.send('{"protocol":"json","version":1}\u001e');
  await waitFor(() => frames.length >= 1, "handshake");
  assert.equal(frames[0], "{}\u001e", "handshake response alone in its frame");
  return { ws, frames, closed };
}

test("a malformed frame closes that connection with an error, others are unaffected", async () => {
  const user = crypto.randomUUID();
  const healthy = build(env.a, () => token({ sub: user }));
  const got = record(healthy);
  await healthy.start();
  for (const garbage of ["{not json}\u001e", '{"type":1,"target":"X"}\u001e', '{"type":6}']) {
    const { ws, frames, closed } = await rawSocket(env.a);
    ws.send(garbage);
    await closed;
    const close = JSON.parse(frames.at(-1).replace(/\u001e$/, ""));
    assert.equal(close.type, 7);
    assert.ok(close.error.length > 0);
    assert.equal(close.allowReconnect, undefined, "a protocol error is final");
  }
  const p = await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed");
  await waitFor(() => got.length === 1, "healthy connection still served");
  assert.equal(got[0].position, p.position);
  await healthy.stop();
});

test("an oversize message is refused and ends only that connection", async () => {
  const user = crypto.randomUUID();
  const c = build(env.a, () => token({ sub: user }), { reconnect: false });
  let closedWith;
  c.onclose((e) => { closedWith = e ?? null; });
  await c.start();
  const otherUser = crypto.randomUUID();
  const other = build(env.a, () => token({ sub: otherUser }));
  await other.start();
  await assert.rejects(c.invoke("Resume", "x".repeat(40 * 1024)));
  await waitFor(() => closedWith !== undefined, "close");
  assert.match(String(closedWith), /larger than|closed/);
  assert.equal(other.state, "Connected");
  await other.stop();
});

test("a binary frame is refused", async () => {
  const { ws, frames, closed } = await rawSocket(env.b);
  ws.send(Buffer.from([1, 2, 3]));
  await closed;
  assert.match(frames.at(-1), /Binary frames/);
});
