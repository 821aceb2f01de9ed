// SIGTERM drains: the gateway tells clients to reconnect; through the load balancer they land on
// another gateway, resume, and lose nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { env, token, build, resumable, statusChange, proxy, waitFor, sleep } from "./helpers.mjs";

test("SIGTERM: clients are told to reconnect and resume elsewhere without loss", async () => {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const lb = await proxy(env.drain);
  const c = build(lb.url, () => token({ sub: user }));
  const { resumed, positions } = resumable(c, lb.url);
  const reasons = [];
  c.onreconnecting((e) => reasons.push(String(e)));
  await c.start();
  const sent = [(await statusChange(user, order, "Draft", "Confirmed")).position];
  await waitFor(() => positions().length === 1, "first update");

  lb.retarget(env.a); // new connections go to a healthy gateway
  process.kill(env.drainPid, "SIGTERM");
  sent.push((await statusChange(user, order, "Confirmed", "Processing")).position);
  await waitFor(() => resumed.length === 1, "resumed elsewhere", 8000);
  assert.equal(resumed[0].status, "ok");
  assert.match(reasons[0], /Server shutting down/);
  sent.push((await statusChange(user, order, "Processing", "Shipped")).position);
  await waitFor(() => positions().length >= 3, "everything");
  await sleep(300);
  assert.deepEqual(positions(), sent);
  // The drained gateway stopped accepting.
  await assert.rejects(fetch(`${env.drain}/healthz`));
  await c.stop();
  lb.close();
});
