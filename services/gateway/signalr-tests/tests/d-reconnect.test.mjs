// No update lost: stateful reconnect (socket cut mid-stream, unacknowledged messages resent and
// de-duplicated), automatic reconnect through a "load balancer" that fails over to the second
// gateway with the resume position in the hub URL, a load balancer without affinity (negotiate
// on one gateway, socket on the other), and the `Resume` method for clients that cannot set
// their URL.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import {
  env, token, build, record, roundRobin, statusChange, proxy, sleep, waitFor, failsOverAndResumes,
} from "./helpers.mjs";

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

test("automatic reconnect to another gateway, resume in the URL: missed then live, once, in order", () =>
  failsOverAndResumes());

test("no sticky sessions: negotiate on one gateway, WebSocket on the other", async () => {
  const user = crypto.randomUUID();
  const lb = await roundRobin([env.a, env.b]);
  const c = build(lb.url, () => token({ sub: user }), { reconnect: false });
  const got = record(c);
  await c.start();
  assert.deepEqual(lb.used, [new URL(env.a).origin, new URL(env.b).origin], "two gateways");
  const p = await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed");
  await waitFor(() => got.length === 1, "update through gateway B");
  assert.equal(got[0].position, p.position);
  await c.stop();
  lb.close();
});

test("the Resume method still replays for clients that cannot change their URL", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const seen = (await statusChange(user, order, "Draft", "Confirmed")).position;
  const missed = (await statusChange(user, order, "Confirmed", "Processing")).position;
  const c = build(env.b, () => token({ sub: user }), { reconnect: false });
  const got = record(c);
  await c.start();
  const result = await c.invoke("Resume", [seen]);
  assert.deepEqual(result, { status: "ok", replayed: 1 });
  assert.deepEqual(got.map((m) => m.position), [missed]);
  await c.stop();
});
