// Smoke test with the 8.x client (older key order in invocations, same protocol otherwise).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import * as signalR8 from "signalr8";
import { env, token, build, statusChange, waitFor } from "./helpers.mjs";

test("@microsoft/signalr 8.x connects with stateful reconnect, receives, invokes", async () => {
  const user = crypto.randomUUID();
  const c = build(env.a, () => token({ sub: user }), { lib: signalR8, stateful: true });
  const got = [];
  c.on("orderstatuschanged", (m) => got.push(m)); // handler names are case-insensitive
  await c.start();
  const p = await statusChange(user, crypto.randomUUID(), "Draft", "Confirmed");
  await waitFor(() => got.length === 1, "update");
  assert.equal(got[0].position, p.position);
  await assert.rejects(c.invoke("JoinAdminDashboard"), /Admin role/);
  const r = await c.invoke("Resume", [p.position]);
  assert.deepEqual(r, { status: "ok", replayed: 0 });
  await c.stop();
});
