// The customer's order form (the cart): each line with the stock available right now, a
// quantity above it refused and explained before anything is sent. While it holds lines, the
// view watches stock on the hub (`WatchStock`), so the numbers here follow every stock change
// without a refresh. The API stays the final authority: stock can still go between this check
// and the reservation, and then the order is cancelled with the reason, shown in "My orders".
import { decimalToMinor, formatMinor } from "../money/money";
import { quantityProblem } from "../state/stock";
import type { Product } from "../state/types";

export interface FormLine {
  sku: string;
  quantity: number;
}

/** Per line, why it cannot be ordered as it is (absent when it can). */
export function lineProblems(lines: FormLine[], bySku: Map<string, Product>): Map<string, string> {
  const problems = new Map<string, string>();
  for (const { sku, quantity } of lines) {
    const product = bySku.get(sku);
    const problem = product ? quantityProblem(quantity, product.stockLevel) : "This product is no longer sold.";
    if (problem) problems.set(sku, problem);
  }
  return problems;
}

export function OrderForm({
  lines,
  bySku,
  busy,
  placing,
  live,
  onQuantity,
  onPlace,
}: {
  lines: FormLine[];
  bySku: Map<string, Product>;
  /** Any request of the view is under way. */
  busy: boolean;
  /** This form's order is being placed. */
  placing: boolean;
  /** Whether stock levels are pushed to this form right now. */
  live: boolean;
  onQuantity: (sku: string, quantity: number) => void;
  onPlace: () => void;
}) {
  const problems = lineProblems(lines, bySku);
  const currency = bySku.get(lines[0]?.sku ?? "")?.currency ?? "USD";
  // In minor units: exact, whatever the currency's minor unit is.
  const totalMinor = lines.reduce(
    (sum, { sku, quantity }) => sum + (decimalToMinor(bySku.get(sku)?.unitPrice ?? "0", currency) ?? 0) * quantity,
    0,
  );

  return (
    <section className="card" aria-labelledby="cart-title" data-testid="order-form" data-live={live}>
      <h2 id="cart-title">Cart</h2>
      {lines.length === 0 ? (
        <p className="empty">Your cart is empty. Add products from the catalog.</p>
      ) : (
        <>
          <p className="muted small" data-testid="stock-live">
            {live ? "Stock shown live." : "Connecting to live stock…"}
          </p>
          <ul className="cart" data-testid="cart">
            {lines.map(({ sku, quantity }) => {
              const product = bySku.get(sku);
              const name = product?.name ?? sku;
              const problem = problems.get(sku);
              const problemId = `cart-problem-${sku}`;
              return (
                <li key={sku} data-testid="cart-line" data-sku={sku} className={problem ? "over" : ""}>
                  <label className="cart-qty">
                    <span className="sr-only">Quantity of {name} in the order</span>
                    <input
                      type="number"
                      min={1}
                      max={product?.stockLevel ?? undefined}
                      value={quantity}
                      onChange={(e) => onQuantity(sku, Number(e.target.value))}
                      aria-invalid={problem ? true : undefined}
                      aria-describedby={problem ? problemId : undefined}
                      data-testid="cart-quantity"
                    />
                  </label>
                  <span className="cart-name">
                    {name}
                    <span className="muted small block" data-testid="cart-stock" data-stock={product?.stockLevel}>
                      {product ? `${product.stockLevel} in stock` : "not available"}
                    </span>
                  </span>
                  <button
                    type="button"
                    className="btn ghost small"
                    onClick={() => onQuantity(sku, 0)}
                    aria-label={`Remove ${name}`}
                  >
                    Remove
                  </button>
                  {problem && (
                    <p className="field-error" id={problemId} role="alert" data-testid="cart-problem">
                      {problem}
                    </p>
                  )}
                </li>
              );
            })}
          </ul>
          <p className="total">
            Total <strong>{formatMinor(totalMinor, currency)}</strong>
          </p>
        </>
      )}
      <button
        type="button"
        className="btn primary wide"
        disabled={lines.length === 0 || problems.size > 0 || busy}
        onClick={onPlace}
      >
        {placing ? "Placing…" : "Place order"}
      </button>
      {problems.size > 0 && (
        <p className="muted small" data-testid="place-blocked">
          Change the quantities marked above to place the order.
        </p>
      )}
    </section>
  );
}
