// The view state transitions: feed (latest 50, one per position), orders patched by events
// (never backwards), alerts (one per position).
import { describe, expect, it } from "vitest";

import { FEED_LIMIT, alertsReducer, feedReducer, isUnknownOrder, ordersReducer } from "./reducers";
import type { HubEvent, Order, OrderStatusChanged } from "./types";

const status = (
  seq: number,
  orderId: string,
  oldStatus: string,
  newStatus: string,
  reason = "",
): OrderStatusChanged => ({
  orderId,
  orderNumber: `ORD-${orderId}`,
  oldStatus,
  newStatus,
  reason,
  updatedAt: "2026-01-01T10:00:00Z",
  position: `ORDERS:${seq}`,
});

const order = (id: string, status: string, version = 1): Order => ({
  id,
  orderNumber: `ORD-${id}`,
  customerId: "c",
  customerName: "Alice",
  status,
  lines: [],
  total: "10.00",
  currency: "USD",
  version,
  createdAt: "2026-01-01T09:00:00Z",
  updatedAt: "2026-01-01T09:00:00Z",
});

describe("feedReducer", () => {
  it("puts the newest first and keeps only the latest 50", () => {
    let feed: ReturnType<typeof feedReducer> = [];
    for (let i = 1; i <= 60; i++) {
      feed = feedReducer(feed, { kind: "status", message: status(i, "a", "Confirmed", "Processing") });
    }
    expect(feed).toHaveLength(FEED_LIMIT);
    expect(feed[0].position).toBe("ORDERS:60");
    expect(feed[FEED_LIMIT - 1].position).toBe("ORDERS:11");
  });

  it("ignores a position it already holds", () => {
    const e: HubEvent = { kind: "status", message: status(1, "a", "Confirmed", "Processing") };
    const once = feedReducer([], e);
    expect(feedReducer(once, e)).toBe(once);
  });
});

describe("ordersReducer", () => {
  it("moves an order forward on a status event", () => {
    const next = ordersReducer([order("a", "Confirmed")], { type: "status", message: status(2, "a", "Confirmed", "Processing") });
    expect(next[0].status).toBe("Processing");
  });

  it("never moves an order backwards (a late replay after a fresh REST load)", () => {
    const orders = [order("a", "Shipped")];
    const next = ordersReducer(orders, { type: "status", message: status(2, "a", "Confirmed", "Processing") });
    expect(next[0].status).toBe("Shipped");
  });

  it("leaves other orders alone", () => {
    const next = ordersReducer([order("a", "Confirmed"), order("b", "Confirmed")], {
      type: "status",
      message: status(3, "b", "Confirmed", "Processing"),
    });
    expect(next.map((o) => o.status)).toEqual(["Confirmed", "Processing"]);
  });

  it("takes a cancellation's reason from the pushed status change", () => {
    const next = ordersReducer([order("a", "Confirmed"), order("b", "Confirmed")], {
      type: "status",
      message: status(4, "a", "Confirmed", "Cancelled", "Out of stock: KB-001"),
    });
    expect(next[0]).toMatchObject({ status: "Cancelled", cancelReason: "Out of stock: KB-001" });
    expect(next[1].cancelReason).toBeUndefined();
    // A change without a reason keeps whatever the order had.
    const plain = ordersReducer([order("c", "Confirmed")], { type: "status", message: status(5, "c", "Confirmed", "Processing") });
    expect(plain[0].cancelReason).toBeUndefined();
  });

  it("adds a new order on top, once, with its total in its own currency", () => {
    const created = {
      orderId: "n",
      orderNumber: "ORD-n",
      customerName: "Bob",
      totalMinor: 1990,
      currency: "EUR",
      createdAt: "2026-01-01T10:00:00Z",
      position: "ORDERS:9",
    };
    const once = ordersReducer([order("a", "Confirmed")], { type: "created", message: created });
    expect(once.map((o) => o.id)).toEqual(["n", "a"]);
    expect(once[0]).toMatchObject({ total: "19.90", currency: "EUR" });
    expect(ordersReducer(once, { type: "created", message: created })).toBe(once);
    const yen = ordersReducer([], { type: "created", message: { ...created, totalMinor: 1990, currency: "JPY" } });
    expect(yen[0]).toMatchObject({ total: "1990", currency: "JPY" });
  });

  it("upserts an order from an API answer unless it is older than what is shown", () => {
    const list = [order("a", "Processing", 3)];
    expect(ordersReducer(list, { type: "upsert", order: order("a", "Shipped", 4) })[0].status).toBe("Shipped");
    expect(ordersReducer(list, { type: "upsert", order: order("a", "Confirmed", 2) })[0].status).toBe("Processing");
    expect(ordersReducer(list, { type: "upsert", order: order("z", "Draft", 1) }).map((o) => o.id)).toEqual(["z", "a"]);
  });

  it("detects an event about an order the list does not hold", () => {
    expect(isUnknownOrder([order("a", "Draft")], status(1, "b", "Draft", "Confirmed"))).toBe(true);
    expect(isUnknownOrder([order("a", "Draft")], status(1, "a", "Draft", "Confirmed"))).toBe(false);
  });
});

describe("alertsReducer", () => {
  const alert = { productId: "p", sku: "KB-001", stockLevel: 4, threshold: 5, position: "INVENTORY:3" };
  it("keeps one alert per position and can dismiss it", () => {
    const one = alertsReducer([], { type: "alert", alert });
    expect(alertsReducer(one, { type: "alert", alert })).toBe(one);
    const two = alertsReducer(one, { type: "alert", alert: { ...alert, position: "INVENTORY:9" } });
    expect(two.map((a) => a.position)).toEqual(["INVENTORY:9", "INVENTORY:3"]);
    expect(alertsReducer(two, { type: "dismiss", position: "INVENTORY:3" })[1].dismissed).toBe(true);
  });
});
