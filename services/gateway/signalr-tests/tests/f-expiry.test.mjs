// When the token expires the gateway closes the connection with allowReconnect; the client
// comes back with a fresh token from its factory and keeps receiving.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { env, token, build, record, statusChange, waitFor } from "./helpers.mjs";

test("an expiring token ends the connection with a reconnect hint; a fresh token takes over", async () => {
  const user = crypto.randomUUID();
  let calls = 0;
  const c = build(env.a, () => token({ sub: user, ttl: calls++ < 2 ? 2 : 3600 }));
  const got = record(c);
  const reasons = [];
  c.onreconnecting((e) => reasons.push(String(e)));
  let reconnected = false;
  c.onreconnected(() => { reconnected = true; });
  await c.start();
  await waitFor(() => reconnected, "reconnect after expiry", 8000);
  assert.match(reasons[0], /Token expired/);
  assert.ok(calls >= 4, "the factory was asked for new tokens");
  const p = await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed");
  await waitFor(() => got.length === 1, "update after refresh");
  assert.equal(got[0].position, p.position);
  await c.stop();
});
