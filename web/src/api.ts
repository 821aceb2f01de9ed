// The orders and inventory REST APIs (same origin; Vite proxies them). Errors are RFC 9457
// problems; their `detail` is shown to the user. A 401 refreshes the token once and retries.

import type { TokenStore } from "./auth";
import type { Order, Product } from "./state/types";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

async function request<T>(
  tokens: TokenStore,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const send = async (token: string) =>
    fetch(path, {
      method: init.method ?? "GET",
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...init.headers,
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
  let response: Response;
  try {
    response = await send(await tokens.getToken());
    if (response.status === 401) response = await send(await tokens.getToken(true));
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", 0);
  }
  if (!response.ok) {
    let detail = `The server answered ${response.status}.`;
    let code: string | undefined;
    try {
      const problem = (await response.json()) as { detail?: string; title?: string; code?: string };
      detail = problem.detail ?? problem.title ?? detail;
      code = problem.code;
    } catch {
      // Not a problem document; keep the generic message.
    }
    throw new ApiError(detail, response.status, code);
  }
  return (await response.json()) as T;
}

export async function listProducts(tokens: TokenStore): Promise<Product[]> {
  const page = await request<{ items: Product[] }>(tokens, "/api/products?limit=100");
  return page.items;
}

export async function listOrders(tokens: TokenStore): Promise<Order[]> {
  const page = await request<{ items: Order[] }>(tokens, "/api/orders?limit=50");
  return page.items;
}

export function createOrder(
  tokens: TokenStore,
  lines: { sku: string; quantity: number }[],
  idempotencyKey: string,
): Promise<Order> {
  return request<Order>(tokens, "/api/orders", {
    method: "POST",
    body: { lines },
    headers: { "Idempotency-Key": idempotencyKey },
  });
}

export type OrderAction = "confirm" | "cancel" | "process" | "ship" | "deliver";

export function orderAction(tokens: TokenStore, id: string, action: OrderAction): Promise<Order> {
  return request<Order>(tokens, `/api/orders/${encodeURIComponent(id)}/${action}`, {
    method: "POST",
    body: {},
  });
}

/** `POST /api/orders/{id}/cancel` with the reason the customer will see (the API's default if empty). */
export function cancelOrder(tokens: TokenStore, id: string, reason: string): Promise<Order> {
  const trimmed = reason.trim();
  return request<Order>(tokens, `/api/orders/${encodeURIComponent(id)}/cancel`, {
    method: "POST",
    body: trimmed ? { reason: trimmed } : {},
  });
}

export function adjustStock(
  tokens: TokenStore,
  sku: string,
  delta: number,
  reason: string,
): Promise<{ sku: string; oldLevel: number; newLevel: number }> {
  return request(tokens, `/api/products/${encodeURIComponent(sku)}/stock-adjustments`, {
    method: "POST",
    body: { delta, reason },
  });
}
