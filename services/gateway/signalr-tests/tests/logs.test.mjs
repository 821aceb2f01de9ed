// Tokens (JWTs and connection tokens) never reach the gateways' debug-level logs, whether they
// came in the query string, the header, or were refused. Self-contained: it checks the tokens it
// sends itself. That no test's tokens (and nothing JWT-shaped) reach any log is checked by the
// launcher (tests/gateway/signalr_client.rs) after the whole suite, so no file has to run last.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import crypto from "node:crypto";
import { env, token, sign, claims, build, hubUrl, negotiate, upgradeStatus, sleep } from "./helpers.mjs";
import * as signalR from "@microsoft/signalr";

test("a token canary never appears in the logs at debug level", async () => {
  const canary = `CANARY${crypto.randomBytes(6).toString("hex")}`;
  const good = token({ name: canary });
  const forged = sign({ alg: "HS256", typ: "JWT" }, claims({ name: canary }), "wrong-secret-but-long-enough-0123456789");
  const q = new signalR.HubConnectionBuilder()
    .withUrl(`${hubUrl(env.a)}?access_token=${encodeURIComponent(good)}`)
    .configureLogging(signalR.LogLevel.None).build();
  await q.start();
  await q.stop();
  const h = build(env.b, () => good, { reconnect: false });
  await h.start();
  await h.stop();
  const { body } = await negotiate(env.a, good);
  assert.equal(await upgradeStatus(env.a, `/hubs/orders?id=${body.connectionToken}&access_token=${forged}`), 401);
  assert.equal(await upgradeStatus(env.a, `/hubs/orders?id=${body.connectionToken}&access_token=${good}`, { Origin: "https://evil.example" }), 403);
  await sleep(300);
  assert.ok(env.logs.length >= 3);
  for (const path of env.logs) {
    const log = fs.readFileSync(path, "utf8");
    assert.ok(log.length > 0, `${path} is empty: not logging at all?`);
    assert.ok(log.includes("DEBUG"), `${path} is not at debug level`);
    for (const secret of [good, forged, good.split(".")[2], forged.split(".")[2], body.connectionToken]) {
      assert.ok(!log.includes(secret), `${path} contains a secret`);
    }
  }
});
