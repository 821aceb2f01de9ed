// Resuming at connect, kept apart from React and from the SignalR client so it is unit tested.
//
// A connection declares where it resumes in the hub URL (`?resume=ORDERS:1042,INVENTORY:77`, plus
// `dashboard=true` for admins, which puts it in the admin dashboard group from the start). The
// gateway then replays what the connection's groups missed, strictly before any live message,
// and sends one `Resumed` invocation `{status: "ok" | "reload", replayed, streams?}` before live
// traffic. Without `resume` (nothing seen yet) there is no replay and no `Resumed`: the view
// reloads every stream's state from REST instead.

import type { ConnectionState } from "../state/types";
import type { PositionTracker } from "./positions";

/** The hub's path; relative to the page (resolve it before handing it to `baseUrl`). */
export const HUB_URL = "/hubs/orders";

export const ALL_STREAMS: readonly string[] = ["ORDERS", "INVENTORY"];

/** The hub URL for the next connection: where to resume (if anywhere) and the dashboard flag. */
export function hubUrl(tracker: PositionTracker, admin: boolean): string {
  const params = new URLSearchParams();
  if (!tracker.isEmpty) params.set("resume", tracker.resumePositions().join(","));
  if (admin) params.set("dashboard", "true");
  const query = params.toString();
  return query ? `${HUB_URL}?${query}` : HUB_URL;
}

/** What the gateway sends as the argument of `Resumed`. */
export interface ResumedResult {
  status: "ok" | "reload";
  replayed?: number;
  /** Streams whose missed events are gone: reload their state from the REST APIs. */
  streams?: string[];
}

export interface ResumedOutcome {
  /** Streams whose state must be reloaded from REST (none when everything was replayed). */
  reload: string[];
  /** Messages the gateway replayed before `Resumed`. */
  replayed: number;
}

/**
 * Reads a `Resumed` argument. `ok`: nothing to reload. `reload`: the named streams. Anything
 * malformed (or a `reload` naming no stream) cannot prove that nothing was missed, so every
 * stream is reloaded.
 */
export function onResumed(result: unknown): ResumedOutcome {
  const r = (result !== null && typeof result === "object" ? result : {}) as Partial<Record<string, unknown>>;
  const replayed =
    typeof r.replayed === "number" && Number.isSafeInteger(r.replayed) && r.replayed >= 0 ? r.replayed : 0;
  if (r.status === "ok") return { reload: [], replayed };
  if (r.status === "reload" && Array.isArray(r.streams)) {
    const streams = r.streams.filter((s): s is string => typeof s === "string" && s.length > 0);
    if (streams.length > 0) return { reload: streams, replayed };
  }
  return { reload: [...ALL_STREAMS], replayed };
}

/**
 * One connection attempt: the URL it uses and whether a `Resumed` is due. `Resumed` can be
 * handled before `start()` resolves (or `onreconnected` runs) when it arrives together with the
 * handshake answer, so both orders must give the same result.
 */
export class ConnectAttempt {
  readonly url: string;
  /** The URL carries `resume`, so the gateway will send `Resumed`. */
  readonly resuming: boolean;
  private resumedSeen = false;

  constructor(tracker: PositionTracker, admin: boolean) {
    this.url = hubUrl(tracker, admin);
    this.resuming = !tracker.isEmpty;
  }

  /**
   * The connection is up (`start()` resolved, or `onreconnected`): the state to show (null: keep
   * the current one, `Resumed` was already handled) and the streams to reload from REST.
   */
  connected(): { state: ConnectionState | null; reload: string[] } {
    if (!this.resuming) return { state: "connected", reload: [...ALL_STREAMS] };
    if (this.resumedSeen) return { state: null, reload: [] };
    return { state: "resuming", reload: [] };
  }

  /** A `Resumed` invocation arrived on this attempt's connection. */
  resumed(result: unknown): ResumedOutcome {
    this.resumedSeen = true;
    return onResumed(result);
  }
}
