// Resuming at connect: the hub URL, the `Resumed` answer, and one connection attempt's bookkeeping.
import { describe, expect, it } from "vitest";

import { PositionTracker } from "./positions";
import { ALL_STREAMS, ConnectAttempt, HUB_URL, hubUrl, onResumed } from "./resume";

function tracker(...positions: string[]): PositionTracker {
  const t = new PositionTracker();
  positions.forEach((p) => t.accept(p));
  return t;
}

/** The query parameters of a relative hub URL, decoded. */
function params(url: string): Record<string, string> {
  const parsed = new URL(url, "http://127.0.0.1:5173/");
  expect(parsed.pathname).toBe(HUB_URL);
  return Object.fromEntries(parsed.searchParams);
}

describe("hubUrl", () => {
  it("is the bare hub URL when nothing was seen yet (no resume, so no Resumed)", () => {
    expect(hubUrl(tracker(), false)).toBe("/hubs/orders");
  });

  it("resumes one stream from its latest position", () => {
    const url = hubUrl(tracker("ORDERS:1041", "ORDERS:1042"), false);
    expect(url.startsWith("/hubs/orders?")).toBe(true);
    expect(params(url)).toEqual({ resume: "ORDERS:1042" });
  });

  it("resumes two streams in a stable order, whatever order they were seen in", () => {
    const a = hubUrl(tracker("ORDERS:1042", "INVENTORY:77"), false);
    const b = hubUrl(tracker("INVENTORY:70", "INVENTORY:77", "ORDERS:1042"), false);
    expect(a).toBe(b);
    expect(params(a)).toEqual({ resume: "INVENTORY:77,ORDERS:1042" });
    // URLSearchParams percent-encodes ':' and ',' (the gateway accepts both forms).
    expect(a).toBe("/hubs/orders?resume=INVENTORY%3A77%2CORDERS%3A1042");
  });

  it("puts admins in the dashboard group from the start", () => {
    expect(hubUrl(tracker(), true)).toBe("/hubs/orders?dashboard=true");
    expect(params(hubUrl(tracker("ORDERS:5"), true))).toEqual({ resume: "ORDERS:5", dashboard: "true" });
    expect(params(hubUrl(tracker("ORDERS:5"), false))).not.toHaveProperty("dashboard");
  });

  it("ignores messages without a position", () => {
    expect(hubUrl(tracker(undefined as unknown as string, "not a position"), false)).toBe(HUB_URL);
  });
});

describe("onResumed", () => {
  it("ok: everything missed was replayed, nothing to reload", () => {
    expect(onResumed({ status: "ok", replayed: 3 })).toEqual({ reload: [], replayed: 3 });
    expect(onResumed({ status: "ok", replayed: 0 })).toEqual({ reload: [], replayed: 0 });
  });

  it("reload: the named streams are reloaded from REST", () => {
    expect(onResumed({ status: "reload", streams: ["ORDERS"], replayed: 2 })).toEqual({
      reload: ["ORDERS"],
      replayed: 2,
    });
    expect(onResumed({ status: "reload", streams: ["ORDERS", 7, "INVENTORY"], replayed: 0 })).toEqual({
      reload: ["ORDERS", "INVENTORY"],
      replayed: 0,
    });
  });

  it("malformed: reloads every stream, since nothing proves that nothing was missed", () => {
    for (const bad of [
      null,
      undefined,
      "ok",
      42,
      [],
      {},
      { status: "done", replayed: 1 },
      { status: "reload" },
      { status: "reload", streams: [] },
      { status: "reload", streams: "ORDERS" },
    ]) {
      expect(onResumed(bad).reload).toEqual(ALL_STREAMS);
    }
  });

  it("counts a missing or invalid replayed as 0", () => {
    for (const replayed of [undefined, -1, 1.5, "3", null, Number.NaN]) {
      expect(onResumed({ status: "ok", replayed }).replayed).toBe(0);
    }
  });
});

describe("ConnectAttempt", () => {
  it("without positions: connected on start, every stream reloaded from REST", () => {
    const attempt = new ConnectAttempt(tracker(), true);
    expect(attempt.url).toBe("/hubs/orders?dashboard=true");
    expect(attempt.resuming).toBe(false);
    expect(attempt.connected()).toEqual({ state: "connected", reload: ALL_STREAMS });
  });

  it("with positions: catching up until Resumed", () => {
    const attempt = new ConnectAttempt(tracker("ORDERS:9"), false);
    expect(attempt.resuming).toBe(true);
    expect(attempt.connected()).toEqual({ state: "resuming", reload: [] });
    expect(attempt.resumed({ status: "reload", streams: ["ORDERS"], replayed: 0 })).toEqual({
      reload: ["ORDERS"],
      replayed: 0,
    });
  });

  it("Resumed handled before start() resolved (same frame as the handshake) is not overridden", () => {
    const attempt = new ConnectAttempt(tracker("ORDERS:9"), false);
    expect(attempt.resumed({ status: "ok", replayed: 1 })).toEqual({ reload: [], replayed: 1 });
    expect(attempt.connected()).toEqual({ state: null, reload: [] });
  });

  it("takes the positions at the time it is made (the last message of the old connection)", () => {
    const t = tracker("ORDERS:9");
    const attempt = new ConnectAttempt(t, false);
    t.accept("ORDERS:10");
    expect(params(attempt.url)).toEqual({ resume: "ORDERS:9" });
    expect(params(new ConnectAttempt(t, false).url)).toEqual({ resume: "ORDERS:10" });
  });
});
