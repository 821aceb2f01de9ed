// No update lost: stateful reconnect (socket cut mid-stream, unacknowledged messages resent and
// de-duplicated) and automatic reconnect + Resume through a "load balancer" that fails over to
// the second gateway instance.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { env, token, build, record, statusChange, proxy, sleep, waitFor } from "./helpers.mjs";

test("stateful reconnect: the socket dies mid-stream, messages arrive once and in order", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const lb = await proxy(env.a);
  const c = build(lb.url, () => token({ sub: user }), { stateful: true });
  const got = record(c);
  let reconnecting = 0;
  c.onreconnecting(() => reconnecting++);
  await c.start();
  const id = c.connectionId;
  const sent = [];
  for (const [o, n] of [["Draft", "Confirmed"], ["Confirmed", "Processing"], ["Processing", "Shipped"]]) {
    sent.push((await statusChange(user, order, o, n)).position);
  }
  await waitFor(() => got.length === 3, "first three");
  lb.cut(); // before the client's 1 s ack: the server still holds all three for replay
  for (const [o, n] of [["Shipped", "Delivered"], ["Delivered", "Cancelled"]]) {
    sent.push((await statusChange(user, order, o, n)).position);
  }
  await waitFor(() => got.length >= 5, "all five");
  await sleep(1500);
  assert.deepEqual(got.map((m) => m.position), sent, "each once, in order");
  assert.equal(c.connectionId, id, "same logical connection");
  assert.equal(reconnecting, 0, "the app never noticed");
  await c.stop();
  lb.close();
});

test("automatic reconnect to another gateway + Resume: everything missed arrives once, in order", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const lb = await proxy(env.a);
  const c = build(lb.url, () => token({ sub: user }));
  const got = record(c);
  const last = {};
  c.on("OrderStatusChanged", (m) => { last[m.position.split(":")[0]] = m.position; });
  const resumed = [];
  c.onreconnected(async () => resumed.push(await c.invoke("Resume", Object.values(last))));
  await c.start();
  const sent = [(await statusChange(user, order, "Draft", "Confirmed")).position];
  await waitFor(() => got.length === 1, "first update");
  const firstId = c.connectionId;

  lb.pause(); // gateway A's connection dies; nothing gets through for a moment
  for (const [o, n] of [["Confirmed", "Processing"], ["Processing", "Shipped"]]) {
    sent.push((await statusChange(user, order, o, n)).position);
  }
  await statusChange(crypto.randomUUID(), crypto.randomUUID(), "Draft", "Confirmed"); // someone else's
  lb.retarget(env.b);
  lb.unpause();
  await waitFor(() => resumed.length === 1, "reconnected and resumed");
  assert.equal(resumed[0].status, "ok");
  assert.equal(resumed[0].replayed, 2);
  assert.notEqual(c.connectionId, firstId, "a new connection on gateway B");
  sent.push((await statusChange(user, order, "Shipped", "Delivered")).position);
  await waitFor(() => got.length >= 4, "live after resume");
  await sleep(300);
  assert.deepEqual(got.map((m) => m.position), sent);
  await c.stop();
  lb.close();
});
