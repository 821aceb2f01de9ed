// Presence: which customers are connected now (on any gateway), as the admin dashboard shows it.
// The gateway sends `PresenceChanged {reset, joined: [{customerId, name}], left: [customerId]}`
// after `WatchPresence` (docs/signalr-wire.md, "Presence"): the first message resets the list,
// later ones carry the net changes of an interval. Pure, so it is unit-tested.

export interface PresentCustomer {
  customerId: string;
  name: string;
}

export interface PresenceChanged {
  reset: boolean;
  joined: PresentCustomer[];
  left: string[];
}

/** Customer id → entry; `null` until the first list arrives. */
export type Presence = ReadonlyMap<string, PresentCustomer> | null;

/** Whether a pushed value has the shape of `PresenceChanged` (anything else is ignored). */
export function isPresenceChanged(value: unknown): value is PresenceChanged {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.reset === "boolean" &&
    Array.isArray(v.joined) &&
    v.joined.every(
      (c) => typeof c === "object" && c !== null && typeof c.customerId === "string" && typeof c.name === "string",
    ) &&
    Array.isArray(v.left) &&
    v.left.every((id) => typeof id === "string")
  );
}

/** The list after one message: joins add or replace, leaves remove; `reset` starts afresh. */
export function applyPresence(state: Presence, change: PresenceChanged): Presence {
  if (!change.reset && state === null) return state; // changes before the list: the list will follow
  const next = new Map(change.reset ? [] : state ?? []);
  for (const c of change.joined) next.set(c.customerId, { customerId: c.customerId, name: c.name });
  for (const id of change.left) next.delete(id);
  return next;
}

/** Everyone listed, by name (then id, so the order is stable). */
export function sortedPresence(state: Presence): PresentCustomer[] {
  return [...(state?.values() ?? [])].sort(
    (a, b) => a.name.localeCompare(b.name) || a.customerId.localeCompare(b.customerId),
  );
}
