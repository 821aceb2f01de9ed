// Live stock: REST loads and pushes merged by product version; the order form's quantity check.
import { describe, expect, it } from "vitest";

import { quantityProblem, stockReducer, withLiveStock } from "./stock";
import type { Product } from "./types";

const product = (sku: string, stockLevel: number, version: number): Product => ({
  id: `id-${sku}`,
  sku,
  name: sku,
  unitPrice: "10.00",
  currency: "USD",
  stockLevel,
  reserved: 0,
  lowStockThreshold: 5,
  lowStock: stockLevel < 5,
  version,
});

const push = (sku: string, stockLevel: number, version: number) => ({
  type: "pushed" as const,
  message: { productId: `id-${sku}`, sku, stockLevel, version },
});

describe("stockReducer", () => {
  it("applies a push newer than the REST load", () => {
    let levels = stockReducer({}, { type: "loaded", products: [product("A", 10, 3)] });
    levels = stockReducer(levels, push("A", 7, 4));
    expect(levels.A).toEqual({ level: 7, version: 4 });
  });

  it("keeps a push when a REST answer read before it arrives after it", () => {
    let levels = stockReducer({}, push("A", 2, 9));
    levels = stockReducer(levels, { type: "loaded", products: [product("A", 10, 8), product("B", 4, 1)] });
    expect(levels.A).toEqual({ level: 2, version: 9 });
    expect(levels.B).toEqual({ level: 4, version: 1 });
  });

  it("ignores a stale or repeated push", () => {
    const levels = stockReducer({}, push("A", 5, 6));
    expect(stockReducer(levels, push("A", 9, 5))).toBe(levels);
    expect(stockReducer(levels, push("A", 5, 6))).toBe(levels);
  });
});

describe("withLiveStock", () => {
  it("replaces levels only with newer ones", () => {
    const products = [product("A", 10, 3), product("B", 8, 5)];
    const shown = withLiveStock(products, { A: { level: 3, version: 4 }, B: { level: 1, version: 5 } })!;
    expect(shown[0]).toMatchObject({ stockLevel: 3, version: 4, lowStock: true });
    expect(shown[1]).toBe(products[1]);
    expect(withLiveStock(null, {})).toBeNull();
  });
});

describe("quantityProblem", () => {
  it("refuses more than is available and explains", () => {
    expect(quantityProblem(3, 5)).toBeNull();
    expect(quantityProblem(5, 5)).toBeNull();
    expect(quantityProblem(6, 5)).toBe("Only 5 in stock: lower the quantity to 5 or less.");
    expect(quantityProblem(1, 0)).toBe("Out of stock right now.");
    expect(quantityProblem(1.5, 5)).toBe("Enter a whole number of units.");
  });
});
