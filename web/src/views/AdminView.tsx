// Admin dashboard: low-stock alerts, live orders with fulfilment and cancel actions (each
// confirmed first, see OrderActions), stock levels with restock, the live feed of every change
// (from a chosen time with SinceControl), and the customers online now (PresencePanel).
import { useReducer, useState } from "react";

import { adjustStock } from "../api";
import type { TokenStore } from "../auth";
import { alertsReducer } from "../state/reducers";
import { LiveFeed, type Notice, StatusPill, TableCard, ViewHeader, money } from "./common";
import { SinceControl } from "./SinceControl";
import { PresencePanel } from "./PresencePanel";
import { OrderActions } from "./OrderActions";
import { useLiveData } from "./useLiveData";

export function AdminView({ tokens }: { tokens: TokenStore }) {
  const [alerts, dispatchAlerts] = useReducer(alertsReducer, []);
  const live = useLiveData(tokens, true, (event) => {
    if (event.kind === "lowStock") dispatchAlerts({ type: "alert", alert: event.message });
  });
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<Notice | null>(null);
  const [restock, setRestock] = useState<Record<string, number>>({});

  const act = async (key: string, work: () => Promise<string>) => {
    setBusy(key);
    setMessage(null);
    try {
      setMessage({ text: await work(), error: false });
    } catch (e) {
      setMessage({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(null);
    }
  };

  const active = alerts.filter((a) => !a.dismissed);

  return (
    <div className="layout">
      <ViewHeader title="Dashboard" live={live} message={message} />
      <SinceControl replaySince={live.hub.replaySince} />
      {active.length > 0 && (
        <section className="alerts" aria-label="Low-stock alerts" role="alert">
          {active.map((a) => (
            <div key={a.position} className="alert" data-testid="low-stock-alert" data-sku={a.sku}>
              <span className="alert-icon" aria-hidden="true">⚠</span>
              <span>
                <strong>Low stock: {a.sku}</strong> — {a.stockLevel} left (threshold {a.threshold})
              </span>
              <button
                type="button"
                className="btn ghost small"
                onClick={() => dispatchAlerts({ type: "dismiss", position: a.position })}
              >
                Dismiss
              </button>
            </div>
          ))}
        </section>
      )}
      <div className="grid">
        <TableCard
          id="admin-orders-title"
          title="Orders"
          className="card span-2"
          placeholder={
            !live.ordersLoaded
              ? "Loading orders…"
              : live.orders.length === 0
                ? "No orders yet. New orders appear here as customers place them."
                : null
          }
          columns={["Order", "Customer", "Total", "Status", <span className="sr-only">Action</span>]}
        >
          {live.orders.map((o) => (
            <tr key={o.id} data-testid="order-row" data-order-number={o.orderNumber} data-order-id={o.id}>
              <td>{o.orderNumber}</td>
              <td>{o.customerName}</td>
              <td>{money(o.total, o.currency)}</td>
              <td>
                <StatusPill status={o.status} />
                {o.status === "Cancelled" && o.cancelReason && (
                  <div className="cancel-reason small" data-testid="cancel-reason">
                    {o.cancelReason}
                  </div>
                )}
              </td>
              <td>
                <OrderActions
                  tokens={tokens}
                  order={o}
                  disabled={busy !== null}
                  onDone={(order, text) => {
                    live.dispatchOrders({ type: "upsert", order });
                    setMessage({ text, error: false });
                  }}
                />
              </td>
            </tr>
          ))}
        </TableCard>

        <LiveFeed items={live.feed} title="Activity" />

        <PresencePanel hub={live.hub} />

        <TableCard
          id="stock-title"
          title="Stock"
          className="card span-3"
          placeholder={
            live.products === null
              ? "Loading stock…"
              : live.products.length === 0
                ? "No products in the catalog."
                : null
          }
          columns={["Product", "Available", "Reserved", "Threshold", "Restock"]}
        >
          {live.products?.map((p) => (
            <tr key={p.sku} data-testid="stock-row" data-sku={p.sku} className={p.lowStock ? "low" : ""}>
              <td>
                <strong>{p.name}</strong> <span className="muted small">{p.sku}</span>
              </td>
              <td data-testid="stock-level">{p.stockLevel}</td>
              <td>{p.reserved}</td>
              <td>{p.lowStockThreshold}</td>
              <td>
                <form
                  className="restock"
                  onSubmit={(e) => {
                    e.preventDefault();
                    const delta = restock[p.sku] ?? 10;
                    void act(`restock-${p.sku}`, async () => {
                      const r = await adjustStock(tokens, p.sku, delta, "restock");
                      await live.loadProducts();
                      return `${r.sku} restocked: ${r.oldLevel} → ${r.newLevel}.`;
                    });
                  }}
                >
                  <label>
                    <span className="sr-only">Units to add to {p.name}</span>
                    <input
                      type="number"
                      min={1}
                      max={100000}
                      value={restock[p.sku] ?? 10}
                      onChange={(e) =>
                        setRestock((r) => ({ ...r, [p.sku]: Math.max(1, Number(e.target.value) || 1) }))
                      }
                      data-testid="restock-quantity"
                    />
                  </label>
                  <button type="submit" className="btn" disabled={busy !== null}>
                    Restock
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </TableCard>
      </div>
    </div>
  );
}
