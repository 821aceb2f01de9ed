// What happens after every (re)connect, kept apart from React and from the SignalR client so it
// is unit tested: rejoin the admin group (a new connection has only its customer group), then
// hand the last positions to `Resume` so the gateway replays what was missed. Returns the streams
// whose state must be reloaded from REST (the gateway could not replay them, or nothing was
// seen yet so there is nothing to resume from) and how many missed messages were replayed.

import { type PositionTracker, type ResumeResult, streamsToReload } from "./positions";

export type Invoke = (method: string, ...args: unknown[]) => Promise<unknown>;

export const ALL_STREAMS = ["ORDERS", "INVENTORY"];

export interface AfterConnect {
  reload: string[];
  /** Messages the gateway replayed; null when `Resume` was not called. */
  replayed: number | null;
}

export async function afterConnect(
  invoke: Invoke,
  tracker: PositionTracker,
  admin: boolean,
): Promise<AfterConnect> {
  if (admin) await invoke("JoinAdminDashboard");
  if (tracker.isEmpty) return { reload: ALL_STREAMS, replayed: null };
  const result = await invoke("Resume", tracker.resumeArgument());
  const replayed = (result as ResumeResult | null)?.replayed;
  return { reload: streamsToReload(result), replayed: typeof replayed === "number" ? replayed : 0 };
}
