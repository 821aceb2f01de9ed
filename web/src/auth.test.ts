// When the token store replaces a token: before it is within a minute of expiring, so every
// (re)connect presents a token that stays valid through the handshake.
import { describe, expect, it } from "vitest";

import { REFRESH_MARGIN_MS, isAdmin, needsRefresh } from "./auth";

const user = { id: "u", name: "Ada", roles: ["Admin"], description: "" };

describe("needsRefresh", () => {
  const now = 1_000_000;
  it("keeps a token with more than the margin left", () => {
    expect(needsRefresh({ user, token: "t", expiresAt: now + REFRESH_MARGIN_MS + 1 }, now)).toBe(false);
  });
  it("replaces a token about to expire, or expired", () => {
    expect(needsRefresh({ user, token: "t", expiresAt: now + REFRESH_MARGIN_MS - 1 }, now)).toBe(true);
    expect(needsRefresh({ user, token: "t", expiresAt: now - 1 }, now)).toBe(true);
  });
  it("treats an unparseable expiry as expired", () => {
    expect(needsRefresh({ user, token: "t", expiresAt: Number.NaN }, now)).toBe(true);
  });
});

describe("isAdmin", () => {
  it("reads the Admin role", () => {
    expect(isAdmin(user)).toBe(true);
    expect(isAdmin({ ...user, roles: [] })).toBe(false);
  });
});
