// useOrderHub: one SignalR connection to the OrderFlow hub for the signed-in user.
//
// - `accessTokenFactory` asks the token store on every (re)connect, so an expired token is
//   replaced before it is presented.
// - `withAutomaticReconnect` retries forever with a short back-off; after every reconnect (and
//   after coming back online) the hook rejoins the admin group if needed and calls
//   `Resume(lastPositions)`, so nothing is missed.
// - Every message is de-duplicated by its stream position before it reaches the view.
// - When the browser says it is offline the connection is stopped (it is dead anyway) and the
//   state says so honestly; `online` restarts it and resumes.
// - Unmounting stops the connection and removes every listener.

import {
  HttpTransportType,
  HubConnectionBuilder,
  HubConnectionState,
  LogLevel,
} from "@microsoft/signalr";
import { useEffect, useRef, useState } from "react";

import type { ConnectionState, HubEvent } from "../state/types";
import { PositionTracker } from "./positions";
import { afterConnect } from "./resume";

export const HUB_URL = "/hubs/orders";
const RETRY_DELAYS_MS = [0, 1000, 2000, 5000];

export interface OrderHubOptions {
  getAccessToken: () => Promise<string>;
  admin: boolean;
  /** A new (never seen) hub message. */
  onEvent: (event: HubEvent) => void;
  /** Reload these streams' state from REST (first connect, or the gateway could not replay). */
  onReload: (streams: string[]) => void;
}

export function useOrderHub(options: OrderHubOptions): {
  state: ConnectionState;
  error: string | null;
  /** Messages replayed by the latest `Resume` (null before the first one). */
  lastReplayed: number | null;
} {
  const [state, setState] = useState<ConnectionState>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [lastReplayed, setLastReplayed] = useState<number | null>(null);
  // The latest callbacks, without restarting the connection when they change.
  const callbacks = useRef(options);
  callbacks.current = options;
  const { admin } = options;

  useEffect(() => {
    let disposed = false;
    let offline = typeof navigator !== "undefined" && navigator.onLine === false;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    const tracker = new PositionTracker();

    const connection = new HubConnectionBuilder()
      .withUrl(HUB_URL, {
        accessTokenFactory: () => callbacks.current.getAccessToken(),
        transport: HttpTransportType.WebSockets,
      })
      .withAutomaticReconnect({
        nextRetryDelayInMilliseconds: (ctx) =>
          RETRY_DELAYS_MS[Math.min(ctx.previousRetryCount, RETRY_DELAYS_MS.length - 1)],
      })
      .configureLogging(LogLevel.Warning)
      .build();

    const deliver =
      (kind: HubEvent["kind"]) =>
      (message: HubEvent["message"]): void => {
        if (disposed || !tracker.accept(message?.position)) return;
        callbacks.current.onEvent({ kind, message } as HubEvent);
      };
    connection.on("OrderStatusChanged", deliver("status"));
    connection.on("NewOrderCreated", deliver("created"));
    connection.on("LowStockAlert", deliver("lowStock"));

    const resume = async () => {
      setState("resuming");
      const { reload, replayed } = await afterConnect(
        (method, ...args) => connection.invoke(method, ...args),
        tracker,
        admin,
      );
      if (disposed) return;
      if (replayed !== null) setLastReplayed(replayed);
      if (reload.length > 0) callbacks.current.onReload(reload);
      setError(null);
      setState("connected");
    };

    const start = async () => {
      clearTimeout(retryTimer);
      if (disposed || offline || connection.state !== HubConnectionState.Disconnected) return;
      setState("connecting");
      try {
        await connection.start();
        await resume();
      } catch (e) {
        if (disposed || offline) return;
        setError(e instanceof Error ? e.message : String(e));
        setState("reconnecting");
        if ((connection.state as HubConnectionState) === HubConnectionState.Connected) {
          await connection.stop();
        }
        retryTimer = setTimeout(() => void start(), 2000);
      }
    };

    connection.onreconnecting(() => {
      if (!disposed) setState(offline ? "offline" : "reconnecting");
    });
    connection.onreconnected(() => {
      resume().catch((e) => {
        setError(e instanceof Error ? e.message : String(e));
        // A half-resumed connection could hide a gap: start over.
        void connection.stop();
      });
    });
    connection.onclose(() => {
      if (disposed) return;
      if (offline) {
        setState("offline");
        return;
      }
      setState("reconnecting");
      retryTimer = setTimeout(() => void start(), 1000);
    });

    const goOffline = () => {
      offline = true;
      setState("offline");
      void connection.stop();
    };
    const goOnline = () => {
      offline = false;
      void start();
    };
    window.addEventListener("offline", goOffline);
    window.addEventListener("online", goOnline);
    if (offline) setState("offline");
    else void start();

    return () => {
      disposed = true;
      clearTimeout(retryTimer);
      window.removeEventListener("offline", goOffline);
      window.removeEventListener("online", goOnline);
      connection.off("OrderStatusChanged");
      connection.off("NewOrderCreated");
      connection.off("LowStockAlert");
      void connection.stop();
    };
  }, [admin]);

  return { state, error, lastReplayed };
}
