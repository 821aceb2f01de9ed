// Authentication before anything is upgraded: token in the query (browser style) and in the
// header (Node style) work; forged, expired, wrongly addressed or incomplete tokens get 401 on
// negotiate and on the upgrade; a disallowed Origin cannot open the socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as signalR from "@microsoft/signalr";
import { env, token, sign, claims, build, hubUrl, negotiate, upgradeStatus } from "./helpers.mjs";

test("token in the Authorization header (Node client default)", async () => {
  const jwt = token(); // the factory is asked for negotiate and again for the socket
  const c = build(env.a, () => jwt, { reconnect: false });
  await c.start();
  assert.equal(c.state, signalR.HubConnectionState.Connected);
  assert.ok(c.connectionId);
  await c.stop();
});

test("token in the access_token query parameter (browser style)", async () => {
  const jwt = token();
  const c = new signalR.HubConnectionBuilder()
    .withUrl(`${hubUrl(env.a)}?access_token=${encodeURIComponent(jwt)}`)
    .configureLogging(signalR.LogLevel.None)
    .build();
  await c.start();
  assert.equal(c.state, signalR.HubConnectionState.Connected);
  await c.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const bad = {
  "alg none": () => `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify(claims())).toString("base64url")}.`,
  "wrong key": () => sign({ alg: "HS256", typ: "JWT" }, claims(), "not-the-secret-but-long-enough-0123456789"),
  "RS256 header signed with the HMAC secret": () => sign({ alg: "RS256", typ: "JWT" }, claims()),
  "expired": () => sign({ alg: "HS256", typ: "JWT" }, claims({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 })),
  "wrong audience": () => sign({ alg: "HS256", typ: "JWT" }, claims({ aud: "somebody-else" })),
  "wrong issuer": () => sign({ alg: "HS256", typ: "JWT" }, claims({ iss: "https://evil.example" })),
  "missing exp": () => { const c = claims(); delete c.exp; return sign({ alg: "HS256", typ: "JWT" }, c); },
  "garbage": () => "not.a.jwt",
};

for (const [name, make] of Object.entries(bad)) {
  test(`refused: ${name}`, async () => {
    const jwt = make();
    const n = await negotiate(env.a, jwt);
    assert.equal(n.status, 401, JSON.stringify(n.body));
    // A real connection id, the bad token on the upgrade: 401, nothing upgraded.
    const ok = await negotiate(env.a, token());
    const id = ok.body.connectionToken;
    assert.equal(await upgradeStatus(env.a, `/hubs/orders?id=${id}&access_token=${encodeURIComponent(jwt)}`), 401);
    assert.equal(await upgradeStatus(env.a, `/hubs/orders?id=${id}`, { Authorization: `Bearer ${jwt}` }), 401);
    const c = build(env.a, () => jwt, { reconnect: false });
    await assert.rejects(c.start(), /401|Unauthorized/);
  });
}

test("no token at all is refused", async () => {
  assert.equal((await negotiate(env.a, null)).status, 401);
  assert.equal(await upgradeStatus(env.a, "/hubs/orders"), 401);
});

test("an Origin not on the list cannot open the socket; the allowed one can", async () => {
  const jwt = token();
  const { body } = await negotiate(env.a, jwt);
  const path = `/hubs/orders?id=${body.connectionToken}&access_token=${encodeURIComponent(jwt)}`;
  assert.equal(await upgradeStatus(env.a, path, { Origin: "https://evil.example" }), 403);
  assert.equal(await upgradeStatus(env.a, path, { Origin: env.origin }), 101);
});

test("negotiate answers CORS for the allowed origin only", async () => {
  const url = `${hubUrl(env.a)}/negotiate?negotiateVersion=1`;
  const pre = (origin) => fetch(url, { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,x-requested-with,x-signalr-user-agent" } });
  const ok = await pre(env.origin);
  assert.equal(ok.headers.get("access-control-allow-origin"), env.origin);
  assert.equal(ok.headers.get("access-control-allow-credentials"), "true");
  const evil = await pre("https://evil.example");
  assert.equal(evil.headers.get("access-control-allow-origin"), null);
});
