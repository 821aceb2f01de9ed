// Pure state transitions for the views: the live feed (latest 50), the order list patched by
// hub events, and the low-stock alerts. Kept free of React so they are unit tested directly.

import { minorToDecimal } from "../money/money";
import type { HubEvent, LowStockAlert, NewOrderCreated, Order, OrderStatusChanged } from "./types";

export const FEED_LIMIT = 50;

/** Lifecycle rank: an event never moves an order backwards (a late replay after a REST reload). */
const RANK: Record<string, number> = {
  Draft: 0,
  Confirmed: 1,
  Processing: 2,
  Shipped: 3,
  Delivered: 4,
  Cancelled: 5,
};

export function statusRank(status: string): number {
  return RANK[status] ?? -1;
}

export interface FeedItem {
  position: string;
  event: HubEvent;
}

/** Newest first, at most FEED_LIMIT, one entry per position. */
export function feedReducer(feed: FeedItem[], event: HubEvent): FeedItem[] {
  const position = event.message.position;
  if (feed.some((item) => item.position === position)) return feed;
  return [{ position, event }, ...feed].slice(0, FEED_LIMIT);
}

export type OrdersAction =
  | { type: "loaded"; orders: Order[] }
  | { type: "upsert"; order: Order }
  | { type: "status"; message: OrderStatusChanged }
  | { type: "created"; message: NewOrderCreated };

/** The order list, newest first. */
export function ordersReducer(orders: Order[], action: OrdersAction): Order[] {
  switch (action.type) {
    case "loaded":
      return action.orders;
    case "upsert": {
      const rest = orders.filter((o) => o.id !== action.order.id);
      const existing = orders.find((o) => o.id === action.order.id);
      if (existing && existing.version > action.order.version) return orders;
      return existing
        ? orders.map((o) => (o.id === action.order.id ? action.order : o))
        : [action.order, ...rest];
    }
    case "status": {
      const m = action.message;
      return orders.map((o) =>
        o.id === m.orderId && statusRank(m.newStatus) > statusRank(o.status)
          ? {
              ...o,
              status: m.newStatus,
              updatedAt: m.updatedAt || o.updatedAt,
              // The REST order's `cancelReason`, pushed live with the cancellation.
              ...(m.newStatus === "Cancelled" && m.reason ? { cancelReason: m.reason } : {}),
            }
          : o,
      );
    }
    case "created": {
      const m = action.message;
      if (orders.some((o) => o.id === m.orderId)) return orders;
      const order: Order = {
        id: m.orderId,
        orderNumber: m.orderNumber,
        customerId: "",
        customerName: m.customerName,
        status: "Draft",
        lines: [],
        // The REST shape: an exact decimal string in the order's own currency.
        total: minorToDecimal(m.totalMinor, m.currency),
        currency: m.currency,
        version: 0,
        createdAt: m.createdAt,
        updatedAt: m.createdAt,
      };
      return [order, ...orders];
    }
  }
}

/** Whether a status event names an order the list does not know (the list must be refetched). */
export function isUnknownOrder(orders: Order[], message: OrderStatusChanged): boolean {
  return !orders.some((o) => o.id === message.orderId);
}

export interface AlertItem extends LowStockAlert {
  dismissed: boolean;
}

/** Newest first, one per position. */
export function alertsReducer(
  alerts: AlertItem[],
  action: { type: "alert"; alert: LowStockAlert } | { type: "dismiss"; position: string },
): AlertItem[] {
  if (action.type === "dismiss") {
    return alerts.map((a) => (a.position === action.position ? { ...a, dismissed: true } : a));
  }
  if (alerts.some((a) => a.position === action.alert.position)) return alerts;
  return [{ ...action.alert, dismissed: false }, ...alerts];
}
