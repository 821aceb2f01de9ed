// Server-Sent Events and long polling with the official client forced to each: a customer's
// updates in order; a drop, then resume in the URL on the other gateway, nothing lost; and no
// sticky sessions: behind a load balancer that sends every new TCP connection to the next
// gateway, the event stream or polls land on one gateway and the POSTs on the other, and the
// gateways forward between them. Then the refusals: unknown or foreign ids, no token.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import {
  env, token, build, record, roundRobin, statusChange, waitFor, hubUrl, negotiate, failsOverAndResumes,
} from "./helpers.mjs";

const transports = [
  ["Server-Sent Events", signalR.HttpTransportType.ServerSentEvents],
  ["long polling", signalR.HttpTransportType.LongPolling],
];
const steps = [["Draft", "Confirmed"], ["Confirmed", "Processing"], ["Processing", "Shipped"], ["Shipped", "Delivered"]];

/** A started client at `base` (`options` go to `build`) that got a customer's four updates in order. */
async function fourInOrder(base, options) {
  const user = crypto.randomUUID(), order = crypto.randomUUID();
  const jwt = token({ sub: user });
  const c = build(base, () => jwt, { reconnect: false, ...options });
  const got = record(c);
  await c.start();
  const sent = [];
  for (const [o, n] of steps) sent.push((await statusChange(user, order, o, n)).position);
  await waitFor(() => got.length === 4, "four updates");
  assert.deepEqual(got.map((m) => m.position), sent);
  return { c, got, sent };
}

for (const [name, transport] of transports) {
  test(`${name}: four status changes arrive in order`, async () => {
    const { c, sent } = await fourInOrder(env.a, { transport });
    // An invocation: a POST up, its completion down the stream or a poll. Everything after
    // the connection opened came live, so there is nothing to replay.
    assert.deepEqual(await c.invoke("Resume", [sent[1]]), { status: "ok", replayed: 0 });
    await c.stop();
  });

  test(`${name}: a drop, then resume on the other gateway: missed then live, once, in order`, () =>
    failsOverAndResumes({ transport }));

  test(`${name}: no sticky sessions: requests that land on the other gateway are forwarded`, async () => {
    const lb = await roundRobin([env.a, env.b]);
    const { c, sent } = await fourInOrder(lb.url, { transport });
    // An invocation is a POST (and, for long polling, its answer comes in a poll).
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await c.invoke("Resume", [sent.at(-1)]), { status: "ok", replayed: 0 });
    }
    const origins = new Set(lb.used);
    assert.equal(origins.size, 2, `both gateways served this connection: ${[...origins]}`);
    await c.stop();
    lb.close();
  });
}

test("long polling with MessagePack: binary polls and POSTs", async () => {
  const { c, got } = await fourInOrder(env.b, {
    transport: signalR.HttpTransportType.LongPolling, protocol: new MessagePackHubProtocol(),
  });
  assert.ok(got[0].updatedAt instanceof Date);
  await c.stop();
});

test("refused: unknown, foreign or missing ids, and no token", async () => {
  const jwt = token();
  const { body } = await negotiate(env.a, jwt);
  const url = (id) => `${hubUrl(env.a)}?id=${encodeURIComponent(id)}`;
  const auth = { authorization: `Bearer ${jwt}` };
  const problem = async (res, status) => {
    assert.equal(res.status, status);
    assert.match(res.headers.get("content-type") ?? "", /problem\+json/);
    return res.json();
  };
  // A poll or POST for a token no gateway issued.
  assert.equal((await problem(await fetch(url("bogus"), { headers: auth }), 404)).code, "unknown_connection");
  assert.equal((await problem(await fetch(url("bogus"), { method: "POST", headers: auth, body: "x" }), 404)).code, "unknown_connection");
  // Another user's connection.
  const stranger = { authorization: `Bearer ${token()}` };
  await problem(await fetch(url(body.connectionToken), { headers: stranger }), 403);
  await problem(await fetch(url(body.connectionToken), { method: "POST", headers: stranger, body: "x" }), 403);
  // No id at all, and no token at all.
  await problem(await fetch(hubUrl(env.a), { headers: auth }), 404);
  await problem(await fetch(url(body.connectionToken), { headers: { accept: "text/event-stream" } }), 401);
  // A POST for a connection that was negotiated but never opened.
  await problem(await fetch(url(body.connectionToken), { method: "POST", headers: auth, body: "{}\u001e" }), 404);
  // A DELETE ends a long-polling connection: its next poll is 204.
  const opened = await fetch(url(body.connectionToken), { headers: auth });
  assert.equal(opened.status, 200, "the first poll opens the connection");
  assert.equal((await fetch(url(body.connectionToken), { method: "DELETE", headers: auth })).status, 202);
  assert.equal((await fetch(url(body.connectionToken), { headers: auth })).status, 204);
});
