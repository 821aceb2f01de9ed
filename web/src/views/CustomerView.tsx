// Customer view: catalog, the order form (cart, stock-aware and live while it holds lines),
// place and confirm orders, "My orders" updating live with cancel reasons, live feed.
import { useMemo, useState } from "react";

import { ApiError, createOrder, orderAction } from "../api";
import type { TokenStore } from "../auth";
import type { Order, Product } from "../state/types";
import { LiveFeed, type Notice, StatusPill, ViewHeader, money } from "./common";
import { OrderForm } from "./OrderForm";
import { useLiveData } from "./useLiveData";

function availability(p: Product): { label: string; tone: string } {
  if (p.stockLevel <= 0) return { label: "Out of stock", tone: "bad" };
  if (p.stockLevel <= p.lowStockThreshold) return { label: `Only ${p.stockLevel} left`, tone: "warn" };
  return { label: `In stock (${p.stockLevel})`, tone: "good" };
}

export function CustomerView({ tokens }: { tokens: TokenStore }) {
  const [cart, setCart] = useState<Record<string, number>>({});
  const cartLines = Object.entries(cart).filter(([, q]) => q > 0);
  // The order form is open while it holds lines: only then does this page watch stock live.
  const formOpen = cartLines.length > 0;
  const live = useLiveData(tokens, false, undefined, { watchStock: formOpen });
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<Notice | null>(null);

  const bySku = useMemo(
    () => new Map((live.products ?? []).map((p) => [p.sku, p])),
    [live.products],
  );

  const setQuantity = (sku: string, quantity: number) =>
    setCart((c) => ({ ...c, [sku]: Math.max(0, Math.min(999, Math.floor(quantity) || 0)) }));

  const run = async (key: string, action: () => Promise<Order>, done: string) => {
    setBusy(key);
    setMessage(null);
    try {
      const order = await action();
      live.dispatchOrders({ type: "upsert", order });
      setMessage({ text: `${done} ${order.orderNumber}.`, error: false });
      return order;
    } catch (e) {
      setMessage({ text: e instanceof ApiError ? e.message : String(e), error: true });
      return null;
    } finally {
      setBusy(null);
    }
  };

  const place = async () => {
    const lines = cartLines.map(([sku, quantity]) => ({ sku, quantity }));
    const order = await run(
      "place",
      () => createOrder(tokens, lines, crypto.randomUUID()),
      "Placed order",
    );
    if (order) setCart({});
  };

  return (
    <div className="layout">
      <ViewHeader title="Shop" live={live} message={message} />
      <div className="grid">
        <section className="card span-2" aria-labelledby="catalog-title">
          <h2 id="catalog-title">Catalog</h2>
          {live.products === null ? (
            <p className="empty">Loading the catalog…</p>
          ) : live.products.length === 0 ? (
            <p className="empty">No products yet.</p>
          ) : (
            <ul className="products">
              {live.products.map((p) => {
                const a = availability(p);
                return (
                  <li key={p.sku} className="product" data-testid="product-card" data-sku={p.sku}>
                    <div>
                      <strong>{p.name}</strong>
                      <div className="muted small">{p.sku}</div>
                    </div>
                    <div className="price">{money(p.unitPrice, p.currency)}</div>
                    <div className={`avail ${a.tone}`}>{a.label}</div>
                    <label className="qty">
                      <span className="sr-only">Quantity of {p.name}</span>
                      <input
                        type="number"
                        min={0}
                        max={999}
                        value={cart[p.sku] ?? 0}
                        onChange={(e) => setQuantity(p.sku, Number(e.target.value))}
                        aria-invalid={(cart[p.sku] ?? 0) > p.stockLevel ? true : undefined}
                        data-testid="quantity"
                      />
                    </label>
                    <button
                      type="button"
                      className="btn"
                      disabled={(cart[p.sku] ?? 0) >= p.stockLevel}
                      onClick={() => setQuantity(p.sku, (cart[p.sku] ?? 0) + 1)}
                    >
                      Add to cart
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
        </section>

        <OrderForm
          lines={cartLines.map(([sku, quantity]) => ({ sku, quantity }))}
          bySku={bySku}
          busy={busy !== null}
          placing={busy === "place"}
          live={live.stockLive}
          onQuantity={setQuantity}
          onPlace={() => void place()}
        />

        <section className="card span-2" aria-labelledby="orders-title">
          <h2 id="orders-title">My orders</h2>
          {!live.ordersLoaded ? (
            <p className="empty">Loading your orders…</p>
          ) : live.orders.length === 0 ? (
            <p className="empty">No orders yet. Your orders and their progress appear here.</p>
          ) : (
            <ul className="orders">
              {live.orders.map((o) => (
                <li key={o.id} className="order" data-testid="order-row" data-order-number={o.orderNumber} data-order-id={o.id}>
                  <div>
                    <strong>{o.orderNumber}</strong>
                    <div className="muted small">
                      {o.lines.map((l) => `${l.quantity} × ${l.productName}`).join(", ")}
                    </div>
                  </div>
                  <div className="price">{money(o.total, o.currency)}</div>
                  <StatusPill status={o.status} />
                  {o.status === "Draft" && (
                    <button
                      type="button"
                      className="btn primary"
                      disabled={busy !== null}
                      onClick={() => void run(o.id, () => orderAction(tokens, o.id, "confirm"), "Confirmed order")}
                    >
                      {busy === o.id ? "Confirming…" : "Confirm order"}
                    </button>
                  )}
                  {o.status === "Cancelled" && o.cancelReason && (
                    <div className="cancel-reason small" data-testid="cancel-reason">
                      Cancelled: {o.cancelReason}
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>

        <LiveFeed items={live.feed} title="Order updates" />
      </div>
    </div>
  );
}
