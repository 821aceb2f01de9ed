// `ReplaySince(timestamp)` with the official client, the admin dashboard's "since 09:00": a new
// connection (without dashboard=true) calls it and gets exactly the dashboard events stored
// since that time, in order, before the call resolves, then live events once; the same over
// MessagePack (the argument a `Date` there, sent as the timestamp extension); customers and bad
// timestamps get hub errors that reject `invoke`.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { env, token, build, record, statusChange, publish, sleep, waitFor } from "./helpers.mjs";

/** A moment between what was stored before and what is stored after (same clock as NATS). */
async function aMoment() {
  await sleep(30);
  const now = new Date();
  await sleep(30);
  return now;
}

/** Events only the dashboard sees, published after `since`; their positions in order. */
async function dashboardTraffic() {
  const customer = crypto.randomUUID(), order = crypto.randomUUID();
  const positions = [];
  positions.push((await publish({ kind: "created", customerId: customer, orderId: order, orderNumber: "ORD-S1", customerName: "Since Tester", totalMinor: 1250 })).position);
  positions.push((await statusChange(customer, order, "Draft", "Confirmed", "ORD-S1")).position);
  positions.push((await publish({ kind: "stock", sku: "SKU-SINCE", old: 9, new: 2, threshold: 5 })).position);
  return positions;
}

// JSON with the ISO string; MessagePack with a `Date`, which it sends as the timestamp extension.
for (const [name, protocol, argument] of [
  ["JSON", undefined, (d) => d.toISOString()],
  ["MessagePack", () => new MessagePackHubProtocol(), (d) => d],
]) {
  test(`${name}: ReplaySince replays exactly what was stored since the time, then live once`, async () => {
    await publish({ kind: "created", customerId: crypto.randomUUID(), orderId: crypto.randomUUID(), orderNumber: "ORD-BEFORE", customerName: "Before", totalMinor: 1 });
    const since = await aMoment();
    const sent = await dashboardTraffic();
    const c = build(env.a, () => token({ admin: true }), { reconnect: false, protocol: protocol?.() });
    const got = record(c);
    await c.start();
    const result = await c.invoke("ReplaySince", argument(since));
    assert.deepEqual(result, { status: "ok", replayed: 3 });
    assert.deepEqual(got.map((m) => m.position), sent, "replayed in stream order before the result");
    assert.deepEqual(got.map((m) => m.method), ["NewOrderCreated", "OrderStatusChanged", "LowStockAlert"]);
    assert.equal(got[0].orderNumber, "ORD-S1");

    const live = (await statusChange(crypto.randomUUID(), crypto.randomUUID(), "Draft", "Confirmed")).position;
    await waitFor(() => got.length === 4, "the live update");
    await sleep(500);
    assert.deepEqual(got.map((m) => m.position), [...sent, live], "live after the replay, once");
    await c.stop();
  });
}

test("ReplaySince is for admins; malformed and future times are hub errors", async () => {
  const customer = build(env.b, () => token(), { reconnect: false });
  await customer.start();
  await assert.rejects(customer.invoke("ReplaySince", new Date(Date.now() - 60_000).toISOString()), {
    message: "Forbidden: the Admin role is required.",
  });
  await customer.stop();

  const admin = build(env.b, () => token({ admin: true }), { reconnect: false });
  await admin.start();
  for (const bad of ["09:00", "2026-12-07T09:00:00", "", 12]) {
    await assert.rejects(admin.invoke("ReplaySince", bad), {
      message: 'Invalid timestamp: expected one RFC 3339 date-time string such as "2026-12-07T09:00:00Z".',
    });
  }
  await assert.rejects(admin.invoke("ReplaySince", new Date(Date.now() + 3_600_000).toISOString()), {
    message: "Invalid timestamp: it is in the future.",
  });
  // Still usable: a valid call afterwards.
  const result = await admin.invoke("ReplaySince", (await aMoment()).toISOString());
  assert.deepEqual(result, { status: "ok", replayed: 0 });
  await admin.stop();
});
