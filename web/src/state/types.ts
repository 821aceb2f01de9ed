// Shapes of the REST resources and of the hub's client methods (see services/gateway
// src/protocol/client_methods.rs and the orders/inventory DTOs).

export interface OrderLine {
  sku: string;
  productName: string;
  quantity: number;
  unitPrice: string;
  lineTotal: string;
}

export interface Order {
  id: string;
  orderNumber: string;
  customerId: string;
  customerName: string;
  status: string;
  lines: OrderLine[];
  total: string;
  currency: string;
  cancelReason?: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Product {
  id: string;
  sku: string;
  name: string;
  unitPrice: string;
  currency: string;
  stockLevel: number;
  reserved: number;
  lowStockThreshold: number;
  lowStock: boolean;
  version: number;
}

export interface OrderStatusChanged {
  orderId: string;
  orderNumber: string;
  newStatus: string;
  oldStatus: string;
  /** Why, for people (a cancellation's reason); "" when the change has none. */
  reason: string;
  updatedAt: string;
  position: string;
}

export interface NewOrderCreated {
  orderId: string;
  orderNumber: string;
  customerName: string;
  /** Integer minor units of `currency` (format with money/money.ts, never divide by 100). */
  totalMinor: number;
  /** ISO 4217. */
  currency: string;
  createdAt: string;
  position: string;
}

export interface LowStockAlert {
  productId: string;
  sku: string;
  stockLevel: number;
  threshold: number;
  position: string;
}

/** Pushed to connections that called `WatchStock` (an open order form); live only, no position. */
export interface StockLevelChanged {
  productId: string;
  sku: string;
  stockLevel: number;
  /** The product's version after the change (the REST product's `version`). */
  version: number;
}

export type HubEvent =
  | { kind: "status"; message: OrderStatusChanged }
  | { kind: "created"; message: NewOrderCreated }
  | { kind: "lowStock"; message: LowStockAlert };

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "resuming" | "offline";
