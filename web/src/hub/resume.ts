// What happens after every (re)connect, kept apart from React and from the SignalR client so it
// is unit tested: rejoin the admin group (a new connection has only its customer group), then
// hand the last positions to `Resume` so the gateway replays what was missed. Returns the streams
// whose state must be reloaded from REST (the gateway could not replay them, or nothing was
// seen yet so there is nothing to resume from).

import { type PositionTracker, streamsToReload } from "./positions";

export type Invoke = (method: string, ...args: unknown[]) => Promise<unknown>;

export const ALL_STREAMS = ["ORDERS", "INVENTORY"];

export async function afterConnect(
  invoke: Invoke,
  tracker: PositionTracker,
  admin: boolean,
): Promise<string[]> {
  if (admin) await invoke("JoinAdminDashboard");
  if (tracker.isEmpty) return ALL_STREAMS;
  const result = await invoke("Resume", tracker.resumeArgument());
  return streamsToReload(result);
}
