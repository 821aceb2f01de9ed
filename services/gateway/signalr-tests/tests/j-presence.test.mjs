// Presence with the official client: an admin watching on gateway B (JSON) and one on gateway A
// (MessagePack) both see a customer who connects to gateway A appear, with the token's name, and
// disappear when they stop; two tabs are one entry; the customer, though it registers a handler,
// never receives `PresenceChanged`, and its presence calls are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { env, token, build, sleep, waitFor } from "./helpers.mjs";

/** Follows `PresenceChanged` as the documented contract says: a map of customer id → name. */
function roster(connection) {
  const online = new Map();
  const messages = [];
  connection.on("PresenceChanged", (change) => {
    messages.push(change);
    if (change.reset) online.clear();
    for (const { customerId, name } of change.joined) online.set(customerId, name);
    for (const id of change.left) online.delete(id);
  });
  return { online, messages };
}

test("admins on either gateway see customers of both come and go; customers see no presence", async () => {
  const adminB = build(env.b, () => token({ admin: true }));
  const adminA = build(env.a, () => token({ admin: true }), { protocol: new MessagePackHubProtocol() });
  const [rb, ra] = [roster(adminB), roster(adminA)];
  await Promise.all([adminB.start(), adminA.start()]);
  await Promise.all([adminB.invoke("WatchPresence"), adminA.invoke("WatchPresence")]);
  await waitFor(() => rb.messages.length > 0 && ra.messages.length > 0, "the first lists");
  assert.equal(rb.messages[0].reset, true, "the list comes first");
  assert.equal(ra.messages[0].reset, true);

  const sub = crypto.randomUUID();
  const tab1 = build(env.a, () => token({ sub, name: "Grace Hopper" }));
  const seenByCustomer = roster(tab1);
  await tab1.start();
  await waitFor(() => rb.online.has(sub) && ra.online.has(sub), "the customer on both admins' lists");
  assert.equal(rb.online.get(sub), "Grace Hopper");
  assert.equal(ra.online.get(sub), "Grace Hopper", "MessagePack carries the same fields");
  for (const method of ["WatchPresence", "GetPresence", "UnwatchPresence"]) {
    await assert.rejects(tab1.invoke(method), /Admin role/, method);
  }

  // A second tab, on the other gateway; closing the first changes nothing.
  const tab2 = build(env.b, () => token({ sub, name: "Grace Hopper" }));
  await tab2.start();
  await sleep(700);
  const before = rb.messages.length;
  await tab1.stop();
  await sleep(1500);
  assert.ok(rb.online.has(sub), "still connected through the second tab");
  assert.ok(
    rb.messages.slice(before).every((m) => !m.left.includes(sub)),
    "no leave while a tab is open",
  );

  const { customers } = await adminB.invoke("GetPresence");
  assert.ok(customers.some((c) => c.customerId === sub && c.name === "Grace Hopper"), "GetPresence lists them");

  await tab2.stop();
  await waitFor(() => !rb.online.has(sub) && !ra.online.has(sub), "the customer gone from both lists");
  assert.deepEqual(seenByCustomer.messages, [], "a customer never receives presence");
  await Promise.all([adminB.stop(), adminA.stop()]);
});
