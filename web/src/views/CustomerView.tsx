// Customer view: catalog, cart, place and confirm orders, "My orders" updating live, live feed.
import { useMemo, useState } from "react";

import { ApiError, createOrder, orderAction } from "../api";
import type { TokenStore } from "../auth";
import type { Order, Product } from "../state/types";
import { LiveFeed, type Notice, StatusPill, ViewHeader, money } from "./common";
import { useLiveData } from "./useLiveData";

function availability(p: Product): { label: string; tone: string } {
  if (p.stockLevel <= 0) return { label: "Out of stock", tone: "bad" };
  if (p.stockLevel <= p.lowStockThreshold) return { label: `Only ${p.stockLevel} left`, tone: "warn" };
  return { label: `In stock (${p.stockLevel})`, tone: "good" };
}

export function CustomerView({ tokens }: { tokens: TokenStore }) {
  const live = useLiveData(tokens, false);
  const [cart, setCart] = useState<Record<string, number>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<Notice | null>(null);

  const bySku = useMemo(
    () => new Map((live.products ?? []).map((p) => [p.sku, p])),
    [live.products],
  );
  const cartLines = Object.entries(cart).filter(([, q]) => q > 0);
  const cartTotal = cartLines.reduce(
    (sum, [sku, q]) => sum + Number(bySku.get(sku)?.unitPrice ?? 0) * q,
    0,
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
                        data-testid="quantity"
                      />
                    </label>
                    <button
                      type="button"
                      className="btn"
                      disabled={p.stockLevel <= 0}
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

        <section className="card" aria-labelledby="cart-title">
          <h2 id="cart-title">Cart</h2>
          {cartLines.length === 0 ? (
            <p className="empty">Your cart is empty. Add products from the catalog.</p>
          ) : (
            <>
              <ul className="cart" data-testid="cart">
                {cartLines.map(([sku, q]) => (
                  <li key={sku}>
                    <span>
                      {q} × {bySku.get(sku)?.name ?? sku}
                    </span>
                    <button
                      type="button"
                      className="btn ghost small"
                      onClick={() => setQuantity(sku, 0)}
                      aria-label={`Remove ${bySku.get(sku)?.name ?? sku}`}
                    >
                      Remove
                    </button>
                  </li>
                ))}
              </ul>
              <p className="total">
                Total <strong>{money(cartTotal)}</strong>
              </p>
            </>
          )}
          <button
            type="button"
            className="btn primary wide"
            disabled={cartLines.length === 0 || busy !== null}
            onClick={() => void place()}
          >
            {busy === "place" ? "Placing…" : "Place order"}
          </button>
        </section>

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
                  {o.cancelReason && <div className="muted small">{o.cancelReason}</div>}
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
