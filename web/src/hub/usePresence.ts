// usePresence: the customers connected now, for an admin. On every new hub connection (first
// start and each reconnect) it calls `WatchPresence`; the gateway answers with the list, then
// pushes the changes (`PresenceChanged`). A connection that is not connected has no list to show.
import { type HubConnection } from "@microsoft/signalr";
import { useEffect, useState } from "react";

import type { ConnectionState } from "../state/types";
import { type Presence, applyPresence, isPresenceChanged } from "./presence";

export function usePresence(
  connection: HubConnection | null,
  state: ConnectionState,
): { presence: Presence; error: string | null } {
  const [presence, setPresence] = useState<Presence>(null);
  const [error, setError] = useState<string | null>(null);

  // Registered before any WatchPresence, so the list cannot arrive unheard.
  useEffect(() => {
    if (!connection) return;
    const handler = (change: unknown) => {
      if (isPresenceChanged(change)) setPresence((current) => applyPresence(current, change));
    };
    connection.on("PresenceChanged", handler);
    return () => connection.off("PresenceChanged", handler);
  }, [connection]);

  const connected = state === "connected";
  useEffect(() => {
    if (!connection) return;
    if (!connected) {
      // The old connection's list is stale; the next one starts with a fresh list.
      setPresence(null);
      return;
    }
    let current = true;
    connection.invoke("WatchPresence").then(
      () => current && setError(null),
      (e: unknown) => current && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      current = false;
    };
  }, [connection, connected]);

  return { presence, error };
}
