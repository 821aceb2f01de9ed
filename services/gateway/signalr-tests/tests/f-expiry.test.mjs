// When the token expires the gateway closes the connection with allowReconnect; the client
// comes back with a fresh token from its factory, resumes from the hub URL, and loses nothing
// of what was published all along.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { env, token, build, resumable, statusChange, sleep, waitFor } from "./helpers.mjs";

test("a 5 s token expires under traffic: reconnect with a fresh one, resume, nothing lost", async () => {
  const user = crypto.randomUUID();
  let calls = 0;
  // The first connection's token lives 5 s (negotiate and socket both ask the factory).
  const c = build(env.a, () => token({ sub: user, ttl: calls++ < 2 ? 5 : 3600 }));
  const { resumed, positions } = resumable(c, env.a);
  const reasons = [];
  c.onreconnecting((e) => reasons.push(String(e)));
  await c.start();
  const sent = [];
  const until = Date.now() + 8000;
  while (Date.now() < until) {
    sent.push((await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed")).position);
    await sleep(150);
  }
  await waitFor(() => positions().length >= sent.length, "every update", 10000);
  await sleep(300);
  assert.match(reasons[0], /Token expired/);
  assert.ok(calls >= 4, "the factory was asked for new tokens");
  assert.equal(resumed.length, 1, "one resume after the expiry");
  assert.equal(resumed[0].status, "ok");
  assert.deepEqual(positions(), sent, "every update once, in order");
  await c.stop();
});
