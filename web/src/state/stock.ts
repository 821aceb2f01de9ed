// Live stock levels for the order form: the REST product list and the hub's
// `StockLevelChanged` pushes, merged per product by version. Pushes carry no stream position
// (they are live only, never replayed), so the product's version decides: whichever of a REST
// answer and a push is newer wins, even when a REST answer started before a push arrives after it.

import type { Product, StockLevelChanged } from "./types";

export interface StockEntry {
  level: number;
  version: number;
}

export type StockLevels = Record<string, StockEntry>;

export type StockAction =
  | { type: "loaded"; products: Product[] }
  | { type: "pushed"; message: StockLevelChanged };

function newer(levels: StockLevels, sku: string, entry: StockEntry): StockLevels {
  const current = levels[sku];
  if (current && current.version >= entry.version) return levels;
  return { ...levels, [sku]: entry };
}

export function stockReducer(levels: StockLevels, action: StockAction): StockLevels {
  switch (action.type) {
    case "loaded":
      return action.products.reduce(
        (acc, p) => newer(acc, p.sku, { level: p.stockLevel, version: p.version }),
        levels,
      );
    case "pushed": {
      const m = action.message;
      return newer(levels, m.sku, { level: m.stockLevel, version: m.version });
    }
  }
}

/** The products with their stock level replaced by the newest one known. */
export function withLiveStock(products: Product[] | null, levels: StockLevels): Product[] | null {
  if (products === null) return null;
  return products.map((p) => {
    const live = levels[p.sku];
    if (!live || live.version <= p.version) return p;
    return {
      ...p,
      stockLevel: live.level,
      version: live.version,
      lowStock: live.level < p.lowStockThreshold,
    };
  });
}

/** Why `quantity` of a product with `available` units cannot be ordered; null when it can. */
export function quantityProblem(quantity: number, available: number): string | null {
  if (!Number.isInteger(quantity) || quantity < 0) return "Enter a whole number of units.";
  if (quantity > available) {
    return available <= 0
      ? "Out of stock right now."
      : `Only ${available} in stock: lower the quantity to ${available} or less.`;
  }
  return null;
}
