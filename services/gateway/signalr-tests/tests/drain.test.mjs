// SIGTERM drains: the gateway tells clients to reconnect; through the load balancer they land on
// another gateway, resume, and lose nothing, whichever transport carries them. The drained
// gateway is the launcher's third one, which no other test uses, so this file may run in any
// position (once; the gateway is gone afterwards).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import * as signalR from "@microsoft/signalr";
import { env, token, build, resumable, statusChange, proxy, waitFor, sleep } from "./helpers.mjs";

const transports = {
  WebSockets: signalR.HttpTransportType.WebSockets,
  "Server-Sent Events": signalR.HttpTransportType.ServerSentEvents,
  "long polling": signalR.HttpTransportType.LongPolling,
};

test("SIGTERM: clients are told to reconnect and resume elsewhere without loss", async () => {
  const lb = await proxy(env.drain);
  const clients = [];
  for (const [name, transport] of Object.entries(transports)) {
    const user = crypto.randomUUID(), order = crypto.randomUUID();
    const c = build(lb.url, () => token({ sub: user }), { transport });
    const client = { name, user, order, c, reasons: [], sent: [], ...resumable(c, lb.url) };
    c.onreconnecting((e) => client.reasons.push(String(e)));
    await c.start();
    client.sent.push((await statusChange(user, order, "Draft", "Confirmed")).position);
    clients.push(client);
  }
  for (const { name, positions } of clients) await waitFor(() => positions().length === 1, `${name}: first update`);

  lb.retarget(env.a); // new connections go to a healthy gateway
  process.kill(env.drainPid, "SIGTERM");
  for (const k of clients) k.sent.push((await statusChange(k.user, k.order, "Confirmed", "Processing")).position);
  for (const k of clients) {
    await waitFor(() => k.resumed.length === 1, `${k.name}: resumed elsewhere`, 8000);
    assert.equal(k.resumed[0].status, "ok", k.name);
    // Long polling has no socket to carry the Close: the poll in flight at SIGTERM receives it,
    // but a poll that starts after the load balancer was retargeted cannot reach the draining
    // gateway, and the client reconnects from that failed request instead. Either way it
    // resumes elsewhere with nothing lost (asserted here and below).
    const why = k.name === "long polling" ? /Server shutting down|fetch failed/ : /Server shutting down/;
    assert.match(k.reasons[0], why, k.name);
    k.sent.push((await statusChange(k.user, k.order, "Processing", "Shipped")).position);
  }
  for (const k of clients) await waitFor(() => k.positions().length >= 3, `${k.name}: everything`);
  await sleep(300);
  for (const k of clients) assert.deepEqual(k.positions(), k.sent, k.name);
  // The drained gateway stopped accepting.
  await assert.rejects(fetch(`${env.drain}/healthz`));
  for (const k of clients) await k.c.stop();
  lb.close();
});
