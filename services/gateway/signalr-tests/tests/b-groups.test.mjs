// Groups with the official client: customers see only their own orders, admins see everything
// once plus NewOrderCreated and LowStockAlert (once per crossing), non-admins cannot join the
// dashboard and receive no admin traffic. Payload shapes are checked exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { env, token, build, record, publish, statusChange, sleep, waitFor } from "./helpers.mjs";

test("two customers each receive only their own updates; the admin receives all", async () => {
  const alice = crypto.randomUUID(), bob = crypto.randomUUID(), admin = crypto.randomUUID();
  const ca = build(env.a, () => token({ sub: alice }));
  const cb = build(env.b, () => token({ sub: bob })); // a second gateway instance
  const cd = build(env.a, () => token({ sub: admin, admin: true }));
  const [ga, gb, gd] = [record(ca), record(cb), record(cd)];
  await Promise.all([ca.start(), cb.start(), cd.start()]);
  await cd.invoke("JoinAdminDashboard");

  const oa = crypto.randomUUID(), ob = crypto.randomUUID(), oc = crypto.randomUUID();
  const p1 = await statusChange(alice, oa, "Confirmed", "Shipped", "ORD-A1");
  const p2 = await statusChange(bob, ob, "Draft", "Confirmed", "ORD-B1");
  const p3 = await publish({ kind: "created", customerId: bob, orderId: oc, orderNumber: "ORD-B2", customerName: "Bob Builder", totalMinor: 4250, currency: "JPY" });
  const p4 = await publish({ kind: "stock", sku: "SKU-RED", old: 12, new: 3, threshold: 5 });

  await waitFor(() => gd.length >= 4, "admin traffic");
  await sleep(300);
  assert.deepEqual(ga.map((m) => m.position), [p1.position]);
  assert.deepEqual(gb.map((m) => m.position), [p2.position]);
  const a = ga[0];
  assert.deepEqual(Object.keys(a).sort(), ["method", "newStatus", "oldStatus", "orderId", "orderNumber", "position", "reason", "updatedAt"]);
  assert.equal(a.reason, "");
  assert.equal(a.method, "OrderStatusChanged");
  assert.equal(a.orderId, oa);
  assert.equal(a.orderNumber, "ORD-A1");
  assert.equal(a.newStatus, "Shipped");
  assert.equal(a.oldStatus, "Confirmed");
  assert.ok(!Number.isNaN(Date.parse(a.updatedAt)));

  assert.deepEqual(gd.map((m) => [m.method, m.position]), [
    ["OrderStatusChanged", p1.position],
    ["OrderStatusChanged", p2.position],
    ["NewOrderCreated", p3.position],
    ["LowStockAlert", p4.position],
  ]);
  const { method, ...created } = gd[2];
  assert.equal(method, "NewOrderCreated");
  assert.deepEqual(Object.keys(created).sort(), ["createdAt", "currency", "customerName", "orderId", "orderNumber", "position", "totalMinor"]);
  // Integer minor units and the currency, never a float: ¥4,250 stays 4250.
  assert.equal(created.totalMinor, 4250);
  assert.ok(Number.isInteger(created.totalMinor));
  assert.equal(created.currency, "JPY");
  assert.equal(created.customerName, "Bob Builder");
  const { method: m4, ...alert } = gd[3];
  assert.deepEqual(alert, { productId: alert.productId, sku: "SKU-RED", stockLevel: 3, threshold: 5, position: p4.position });
  await Promise.all([ca.stop(), cb.stop(), cd.stop()]);
});

test("a non-admin's JoinAdminDashboard fails and they get no admin traffic", async () => {
  const user = crypto.randomUUID();
  const c = build(env.a, () => token({ sub: user }));
  const got = record(c);
  await c.start();
  await assert.rejects(c.invoke("JoinAdminDashboard"), /Admin role/);
  await publish({ kind: "created", customerId: crypto.randomUUID(), orderId: crypto.randomUUID(), orderNumber: "ORD-X", customerName: "X", totalMinor: 1 });
  await publish({ kind: "stock", sku: "SKU-X", old: 10, new: 1, threshold: 5 });
  await statusChange(crypto.randomUUID(), crypto.randomUUID(), "Draft", "Confirmed");
  await sleep(500);
  assert.deepEqual(got, []);
  assert.equal(c.state, "Connected", "the failed call does not end the connection");
  await c.stop();
});

test("LowStockAlert fires once per crossing, not on every later decrease", async () => {
  const admin = crypto.randomUUID();
  const c = build(env.b, () => token({ sub: admin, admin: true }));
  const got = record(c, ["LowStockAlert"]);
  await c.start();
  await c.invoke("JoinAdminDashboard");
  for (const [o, n] of [[20, 9], [9, 4], [4, 2], [2, 1], [1, 15], [15, 3]]) {
    await publish({ kind: "stock", sku: "SKU-CROSS", old: o, new: n, threshold: 5 });
  }
  await waitFor(() => got.length >= 2, "two alerts");
  await sleep(300);
  assert.deepEqual(got.map((m) => m.stockLevel), [4, 3]);
  await c.invoke("LeaveAdminDashboard");
  await publish({ kind: "stock", sku: "SKU-CROSS", old: 9, new: 0, threshold: 5 });
  await sleep(300);
  assert.equal(got.length, 2, "no alerts after leaving the dashboard");
  await c.stop();
});

test("a cancellation's reason reaches the customer and the dashboard", async () => {
  const alice = crypto.randomUUID(), admin = crypto.randomUUID(), order = crypto.randomUUID();
  const customer = build(env.a, () => token({ sub: alice }));
  const dashboard = build(env.b, () => token({ sub: admin, admin: true }));
  const [gc, gd] = [record(customer, ["OrderStatusChanged"]), record(dashboard, ["OrderStatusChanged"])];
  await Promise.all([customer.start(), dashboard.start()]);
  await dashboard.invoke("JoinAdminDashboard");
  const reason = "Out of stock: KB-001 — sorry \u001e \"quoted\"";
  const { position } = await statusChange(alice, order, "Confirmed", "Cancelled", "ORD-R1", reason);
  await waitFor(() => gc.length >= 1 && gd.some((m) => m.position === position), "both");
  for (const m of [gc[0], gd.find((x) => x.position === position)]) {
    assert.equal(m.position, position);
    assert.equal(m.newStatus, "Cancelled");
    assert.equal(m.reason, reason);
  }
  await Promise.all([customer.stop(), dashboard.stop()]);
});

test("stock levels reach only connections that watch stock, until they unwatch", async () => {
  const watcher = build(env.a, () => token({ sub: crypto.randomUUID() }));
  const other = build(env.b, () => token({ sub: crypto.randomUUID() }));
  const admin = build(env.a, () => token({ sub: crypto.randomUUID(), admin: true }));
  const methods = ["StockLevelChanged", "LowStockAlert", "OrderStatusChanged", "NewOrderCreated"];
  const [gw, go, ga] = [record(watcher, methods), record(other, methods), record(admin, methods)];
  await Promise.all([watcher.start(), other.start(), admin.start()]);
  await watcher.invoke("WatchStock");
  await admin.invoke("JoinAdminDashboard");
  const sku = `SKU-W-${crypto.randomUUID().slice(0, 8)}`;
  // Other test files may publish stock changes meanwhile: look at this sku only.
  const mine = (got) => got.filter((m) => m.sku === sku);
  // A restock (no alert) and a crossing (an alert for the dashboard): watchers see both levels.
  await publish({ kind: "stock", sku, old: 2, new: 9, threshold: 5, version: 7 });
  const crossing = await publish({ kind: "stock", sku, old: 9, new: 3, threshold: 5, version: 8 });
  await waitFor(() => mine(gw).length >= 2 && mine(ga).length >= 1, "watcher and dashboard");
  await sleep(300);
  const [first, second] = mine(gw);
  assert.deepEqual(first, { method: "StockLevelChanged", productId: first.productId, sku, stockLevel: 9, version: 7 });
  assert.deepEqual(second, { method: "StockLevelChanged", productId: second.productId, sku, stockLevel: 3, version: 8 });
  assert.equal(mine(gw).length, 2, "live only, no position, no alert");
  assert.deepEqual(mine(ga).map((m) => [m.method, m.position]), [["LowStockAlert", crossing.position]], "the dashboard is not a watcher");
  assert.deepEqual(go, [], "nobody else pays for stock changes");
  await watcher.invoke("UnwatchStock");
  await publish({ kind: "stock", sku, old: 3, new: 30, threshold: 5, version: 9 });
  await sleep(500);
  assert.equal(mine(gw).length, 2, "nothing after UnwatchStock");
  await Promise.all([watcher.stop(), other.stop(), admin.stop()]);
});
