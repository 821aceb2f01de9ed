// De-duplication by position and where to resume.
import { describe, expect, it } from "vitest";

import { PositionTracker, parsePosition } from "./positions";

describe("parsePosition", () => {
  it("reads stream and sequence", () => {
    expect(parsePosition("ORDERS:1042")).toEqual({ stream: "ORDERS", sequence: 1042 });
    expect(parsePosition("INVENTORY:7")).toEqual({ stream: "INVENTORY", sequence: 7 });
  });
  it("rejects anything else", () => {
    for (const bad of ["", "ORDERS", ":5", "ORDERS:", "ORDERS:-1", "ORDERS:1.5", "ORDERS:x", 42, null, undefined]) {
      expect(parsePosition(bad)).toBeNull();
    }
  });
});

describe("PositionTracker", () => {
  it("accepts each position once and drops anything at or below the mark of its stream", () => {
    const t = new PositionTracker();
    expect(t.accept("ORDERS:5")).toBe(true);
    expect(t.accept("ORDERS:5")).toBe(false);
    expect(t.accept("ORDERS:4")).toBe(false);
    expect(t.accept("ORDERS:6")).toBe(true);
    // Streams are independent: a low INVENTORY sequence is new.
    expect(t.accept("INVENTORY:2")).toBe(true);
    expect(t.accept("INVENTORY:2")).toBe(false);
  });

  it("a replay overlapping live traffic yields every message exactly once, in order", () => {
    const t = new PositionTracker();
    const live = ["ORDERS:1", "ORDERS:2"];
    const replay = ["ORDERS:2", "ORDERS:3", "ORDERS:4"];
    const afterReplay = ["ORDERS:4", "ORDERS:5"];
    const delivered = [...live, ...replay, ...afterReplay].filter((p) => t.accept(p));
    expect(delivered).toEqual(["ORDERS:1", "ORDERS:2", "ORDERS:3", "ORDERS:4", "ORDERS:5"]);
  });

  it("never drops messages without a position", () => {
    const t = new PositionTracker();
    expect(t.accept(undefined)).toBe(true);
    expect(t.accept(undefined)).toBe(true);
    expect(t.isEmpty).toBe(true);
  });

  it("resumes from the latest position per stream, in a stable order", () => {
    const t = new PositionTracker();
    expect(t.resumePositions()).toEqual([]);
    ["ORDERS:3", "INVENTORY:9", "ORDERS:8", "ORDERS:7", "INVENTORY:10"].forEach((p) => t.accept(p));
    expect(t.resumePositions()).toEqual(["INVENTORY:10", "ORDERS:8"]);
  });
});
