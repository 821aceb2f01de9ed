// The admin dashboard's "since" replay, kept apart from React and the SignalR client so it is unit
// tested: the default time, the `<input type="datetime-local">` conversions, and reading the
// result of the hub method `ReplaySince(timestamp)`.
//
// How the hook uses it (useOrderHub.ts): it stops the connection, forgets its positions, opens a
// new connection *without* `dashboard=true` and calls `ReplaySince` with an RFC 3339 time. The
// gateway joins that connection to the dashboard, replays every dashboard event stored since the
// time (in stream order, as ordinary event messages), answers, and then delivers live events,
// with no gap and no duplicate. Later reconnects resume by position as usual.

import type { HubEvent } from "../state/types";

/** The most recent `hour`:00 local time at or before `now` (today's, or yesterday's if earlier). */
export function defaultSince(now: Date, hour = 9): Date {
  const at = new Date(now.getFullYear(), now.getMonth(), now.getDate(), hour, 0, 0, 0);
  if (at.getTime() > now.getTime()) at.setDate(at.getDate() - 1);
  return at;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** `YYYY-MM-DDTHH:mm` in local time, the value format of `<input type="datetime-local">`. */
export function toLocalInput(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The local time a `datetime-local` value names; null when empty or not such a value. */
export function fromLocalInput(value: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return null;
  const [year, month, day, hours, minutes, seconds] = m.slice(1).map((v) => Number(v ?? 0));
  const date = new Date(year, month - 1, day, hours, minutes, seconds, 0);
  // Rejects day 31 of a 30-day month and the like (Date would roll them over).
  if (date.getDate() !== day || date.getMonth() !== month - 1) return null;
  return date;
}

/** What a `ReplaySince` call came to. */
export interface SinceOutcome {
  /** Events the gateway replayed before answering. */
  replayed: number;
  /** Streams whose replay starts later than asked (the gateway's bound, or retention). */
  truncated: string[];
  /** Streams not replayed: their state is reloaded from REST. */
  reload: string[];
}

const streams = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === "string" && s.length > 0) : [];

/**
 * Reads the method's result (`{status: "ok" | "truncated" | "reload", replayed, truncated?,
 * streams?}`). A `reload` naming no stream cannot say what is missing, so it reloads both.
 */
export function onReplayedSince(result: unknown): SinceOutcome {
  const r = (result !== null && typeof result === "object" ? result : {}) as Partial<Record<string, unknown>>;
  const replayed =
    typeof r.replayed === "number" && Number.isSafeInteger(r.replayed) && r.replayed >= 0 ? r.replayed : 0;
  const truncated = streams(r.truncated);
  let reload = streams(r.streams);
  if (r.status === "reload" && reload.length === 0) reload = ["ORDERS", "INVENTORY"];
  if (r.status !== "ok" && r.status !== "truncated" && r.status !== "reload") reload = ["ORDERS", "INVENTORY"];
  return { replayed, truncated, reload };
}

/** A one-line summary for the dashboard. */
export function describeOutcome(since: Date, outcome: SinceOutcome): string {
  const time = since.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  const events = `${outcome.replayed} update${outcome.replayed === 1 ? "" : "s"}`;
  let text = `Replayed ${events} since ${time}; live from here on.`;
  if (outcome.truncated.length > 0) text += ` Only the latest ones for ${outcome.truncated.join(", ")} (limit reached).`;
  if (outcome.reload.length > 0) text += ` Reloaded ${outcome.reload.join(", ")} instead.`;
  return text;
}

/** The feed's reducer, plus `null`: start over empty (before a since replay). */
export function resettable<S extends unknown[]>(
  reducer: (state: S, event: HubEvent) => S,
  empty: S,
): (state: S, event: HubEvent | null) => S {
  return (state, event) => (event === null ? empty : reducer(state, event));
}
