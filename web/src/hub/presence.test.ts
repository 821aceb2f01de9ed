// The presence list as PresenceChanged messages build it.
import { describe, expect, it } from "vitest";

import { applyPresence, isPresenceChanged, sortedPresence } from "./presence";

const alice = { customerId: "a", name: "Alice Martin" };
const bob = { customerId: "b", name: "Bob Chen" };

describe("applyPresence", () => {
  it("starts from the list, then applies joins and leaves", () => {
    let state = applyPresence(null, { reset: true, joined: [bob], left: [] });
    state = applyPresence(state, { reset: false, joined: [alice], left: [] });
    expect(sortedPresence(state)).toEqual([alice, bob]);
    state = applyPresence(state, { reset: false, joined: [], left: ["b"] });
    expect(sortedPresence(state)).toEqual([alice]);
  });

  it("a reset replaces everything (a new connection's list)", () => {
    const before = applyPresence(null, { reset: true, joined: [alice, bob], left: [] });
    expect(sortedPresence(applyPresence(before, { reset: true, joined: [], left: [] }))).toEqual([]);
  });

  it("ignores changes before the first list, and leaves of someone unknown", () => {
    expect(applyPresence(null, { reset: false, joined: [alice], left: [] })).toBeNull();
    const state = applyPresence(null, { reset: true, joined: [], left: ["nobody"] });
    expect(sortedPresence(state)).toEqual([]);
  });

  it("does not change the state it was given", () => {
    const state = applyPresence(null, { reset: true, joined: [alice], left: [] });
    applyPresence(state, { reset: false, joined: [bob], left: ["a"] });
    expect(sortedPresence(state)).toEqual([alice]);
  });
});

describe("isPresenceChanged", () => {
  it("accepts the documented shape only", () => {
    expect(isPresenceChanged({ reset: true, joined: [alice], left: ["x"] })).toBe(true);
    for (const bad of [null, 42, {}, { reset: "yes", joined: [], left: [] }, { reset: true, joined: [{ customerId: 1, name: "x" }], left: [] }, { reset: true, joined: [], left: [7] }]) {
      expect(isPresenceChanged(bad)).toBe(false);
    }
  });
});
