import { describe, expect, it } from "vitest";

import { feedReducer } from "../state/reducers";
import type { HubEvent } from "../state/types";
import { defaultSince, describeOutcome, fromLocalInput, onReplayedSince, resettable, toLocalInput } from "./since";

describe("defaultSince", () => {
  it("is today's 09:00 from 09:00 on, yesterday's before", () => {
    expect(defaultSince(new Date(2026, 11, 7, 14, 30))).toEqual(new Date(2026, 11, 7, 9, 0));
    expect(defaultSince(new Date(2026, 11, 7, 9, 0))).toEqual(new Date(2026, 11, 7, 9, 0));
    expect(defaultSince(new Date(2026, 11, 7, 8, 59))).toEqual(new Date(2026, 11, 6, 9, 0));
    expect(defaultSince(new Date(2027, 0, 1, 1, 0))).toEqual(new Date(2026, 11, 31, 9, 0));
  });
});

describe("datetime-local values", () => {
  it("round-trip in local time", () => {
    const at = new Date(2026, 2, 5, 7, 4);
    expect(toLocalInput(at)).toBe("2026-03-05T07:04");
    expect(fromLocalInput("2026-03-05T07:04")).toEqual(at);
    expect(fromLocalInput("2026-03-05T07:04:09")).toEqual(new Date(2026, 2, 5, 7, 4, 9));
  });

  it("refuses what is not a date and time", () => {
    for (const bad of ["", "09:00", "2026-03-05", "2026-02-30T09:00", "2026-13-01T09:00", "x2026-03-05T07:04"]) {
      expect(fromLocalInput(bad), bad).toBeNull();
    }
  });
});

describe("onReplayedSince", () => {
  it("reads ok, truncated and reload results", () => {
    expect(onReplayedSince({ status: "ok", replayed: 4 })).toEqual({ replayed: 4, truncated: [], reload: [] });
    expect(onReplayedSince({ status: "truncated", replayed: 5000, truncated: ["ORDERS"] })).toEqual({
      replayed: 5000,
      truncated: ["ORDERS"],
      reload: [],
    });
    expect(onReplayedSince({ status: "reload", replayed: 0, streams: ["INVENTORY"] })).toEqual({
      replayed: 0,
      truncated: [],
      reload: ["INVENTORY"],
    });
  });

  it("reloads everything when the result cannot be read", () => {
    for (const bad of [null, "ok", { status: "reload" }, { status: "weird", replayed: 1 }]) {
      expect(onReplayedSince(bad).reload).toEqual(["ORDERS", "INVENTORY"]);
    }
    expect(onReplayedSince({ status: "ok", replayed: -1 }).replayed).toBe(0);
  });

  it("is summarised for the dashboard", () => {
    const since = new Date(2026, 11, 7, 9, 0);
    expect(describeOutcome(since, { replayed: 1, truncated: [], reload: [] })).toMatch(/^Replayed 1 update since .*; live from here on\.$/);
    expect(describeOutcome(since, { replayed: 5000, truncated: ["ORDERS"], reload: [] })).toContain(
      "Only the latest ones for ORDERS (limit reached).",
    );
  });
});

describe("resettable feed", () => {
  it("empties on null and otherwise reduces as before", () => {
    const reduce = resettable(feedReducer, []);
    const event: HubEvent = {
      kind: "created",
      message: { orderId: "o", orderNumber: "ORD-1", customerName: "A", totalMinor: 100, currency: "EUR", createdAt: "", position: "ORDERS:1" },
    };
    const one = reduce([], event);
    expect(one).toHaveLength(1);
    expect(reduce(one, event)).toBe(one);
    expect(reduce(one, null)).toEqual([]);
  });
});
