// The after-(re)connect sequence: rejoin the dashboard, then Resume from the kept positions.
import { describe, expect, it } from "vitest";

import { PositionTracker } from "./positions";
import { ALL_STREAMS, afterConnect } from "./resume";

function recorder(answers: Record<string, unknown> = {}) {
  const calls: [string, unknown[]][] = [];
  const invoke = async (method: string, ...args: unknown[]) => {
    calls.push([method, args]);
    return answers[method] ?? null;
  };
  return { calls, invoke };
}

describe("afterConnect", () => {
  it("asks for a full reload when nothing was seen yet, and does not call Resume", async () => {
    const { calls, invoke } = recorder();
    expect(await afterConnect(invoke, new PositionTracker(), false)).toEqual({ reload: ALL_STREAMS, replayed: null });
    expect(calls).toEqual([]);
  });

  it("resumes from the last position of every stream", async () => {
    const tracker = new PositionTracker();
    ["ORDERS:4", "ORDERS:9", "INVENTORY:3"].forEach((p) => tracker.accept(p));
    const { calls, invoke } = recorder({ Resume: { status: "ok", replayed: 2 } });
    expect(await afterConnect(invoke, tracker, false)).toEqual({ reload: [], replayed: 2 });
    expect(calls).toEqual([["Resume", [["INVENTORY:3", "ORDERS:9"]]]]);
  });

  it("rejoins the admin dashboard before resuming, so the replay covers the dashboard's events", async () => {
    const tracker = new PositionTracker();
    tracker.accept("ORDERS:1");
    const { calls, invoke } = recorder({ Resume: { status: "ok", replayed: 0 } });
    await afterConnect(invoke, tracker, true);
    expect(calls.map(([m]) => m)).toEqual(["JoinAdminDashboard", "Resume"]);
  });

  it("reports the streams the gateway could no longer replay", async () => {
    const tracker = new PositionTracker();
    tracker.accept("ORDERS:1");
    const { invoke } = recorder({ Resume: { status: "reload", streams: ["ORDERS"], replayed: 0 } });
    expect(await afterConnect(invoke, tracker, false)).toEqual({ reload: ["ORDERS"], replayed: 0 });
  });

  it("propagates a failed invocation so the hook restarts the connection", async () => {
    const tracker = new PositionTracker();
    tracker.accept("ORDERS:1");
    const failing = async () => {
      throw new Error("Forbidden");
    };
    await expect(afterConnect(failing, tracker, true)).rejects.toThrow("Forbidden");
  });
});
