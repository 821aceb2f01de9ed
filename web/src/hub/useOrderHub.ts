// useOrderHub: one SignalR connection to the OrderFlow hub for the signed-in user.
//
// - `accessTokenFactory` asks the token store on every (re)connect, so an expired token is
//   replaced before it is presented.
// - Every connection declares where it resumes in the hub URL (`resume=` the highest position per
//   stream, `dashboard=true` for admins; see resume.ts). `baseUrl` is set before every `start()`
//   and in `onreconnecting` (after the old connection's last message, before the first attempt),
//   so the gateway replays what was missed before any live message and then sends `Resumed`.
// - `withAutomaticReconnect` retries forever with a short back-off.
// - Every message is de-duplicated by its stream position before it reaches the view.
// - When the browser says it is offline the connection is stopped (it is dead anyway) and the
//   state says so honestly; `online` restarts it and resumes.
// - Unmounting stops the connection and removes every listener.
// - `replaySince(time)` (admins) starts over on a new connection that asks the gateway for every
//   dashboard event since that time, then continues live (see since.ts).
// - `watchStock`: while true, the connection is in the hub's stock watchers (`WatchStock`) and
//   `onStock` gets every `StockLevelChanged`. Those are live only, so the hook calls
//   `WatchStock` again after every (re)connect and then `onStockWatch`, for the caller to reload
//   stock from REST (what changed while it was not watching).

import {
  type HubConnection,
  HubConnectionBuilder,
  HubConnectionState,
  LogLevel,
} from "@microsoft/signalr";
import { useEffect, useRef, useState } from "react";

import type { ConnectionState, HubEvent, StockLevelChanged } from "../state/types";
import { PositionTracker } from "./positions";
import { ConnectAttempt, HUB_URL } from "./resume";
import { type SinceOutcome, onReplayedSince } from "./since";

export { HUB_URL };
const RETRY_DELAYS_MS = [0, 1000, 2000, 5000];
const CLIENT_METHODS = ["OrderStatusChanged", "NewOrderCreated", "LowStockAlert", "StockLevelChanged", "Resumed"];

/**
 * The client only resolves the URL given to `withUrl`; one set through `baseUrl` is used as is
 * (negotiate needs `new URL(url)`), so resolve the relative hub URL against the page here.
 */
function absolute(url: string): string {
  return new URL(url, document.baseURI).href;
}

export interface OrderHubOptions {
  getAccessToken: () => Promise<string>;
  admin: boolean;
  /** A new (never seen) hub message. */
  onEvent: (event: HubEvent) => void;
  /** Reload these streams' state from REST (nothing to resume from, or the gateway could not replay). */
  onReload: (streams: string[]) => void;
  /** A since replay starts over: forget what was shown (the replayed events follow). */
  onRestart?: () => void;
  /** Be in the hub's stock watchers (an open order form). */
  watchStock?: boolean;
  /** A pushed stock level (only while `watchStock`). */
  onStock?: (message: StockLevelChanged) => void;
  /** The connection has just started watching stock: reload stock from REST. */
  onStockWatch?: () => void;
}

export function useOrderHub(options: OrderHubOptions): {
  state: ConnectionState;
  error: string | null;
  /** Messages replayed before the latest `Resumed` (null before the first one). */
  lastReplayed: number | null;
  /** Admins: show every dashboard event since `since`, then live (rejects with the hub's error). */
  replaySince: (since: Date) => Promise<SinceOutcome>;
  /** The connection, for features with methods of their own (presence); null when none. */
  connection: HubConnection | null;
} {
  const [state, setState] = useState<ConnectionState>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [lastReplayed, setLastReplayed] = useState<number | null>(null);
  const [current, setCurrent] = useState<HubConnection | null>(null);
  // The latest callbacks, without restarting the connection when they change.
  const callbacks = useRef(options);
  callbacks.current = options;
  const { admin } = options;
  const replaySinceRef = useRef<(since: Date) => Promise<SinceOutcome>>(() =>
    Promise.reject(new Error("Not connected yet.")),
  );
  // Brings the connection's stock watching in line with `options.watchStock`; set by the effect.
  const syncStockWatch = useRef<() => void>(() => {});

  useEffect(() => {
    let disposed = false;
    let offline = typeof navigator !== "undefined" && navigator.onLine === false;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let tracker = new PositionTracker();
    // Set while a since replay restarts the connection: it must not join the dashboard in its
    // URL (`ReplaySince` joins it, after the replay), and the stop is not a loss to recover from.
    let sinceStart = false;

    const connection = new HubConnectionBuilder()
      .withUrl(HUB_URL, {
        // Every transport the gateway offers, WebSockets first: behind a proxy that refuses
        // WebSockets the client falls back to Server-Sent Events, then long polling.
        accessTokenFactory: () => callbacks.current.getAccessToken(),
      })
      .withAutomaticReconnect({
        nextRetryDelayInMilliseconds: (ctx) =>
          RETRY_DELAYS_MS[Math.min(ctx.previousRetryCount, RETRY_DELAYS_MS.length - 1)],
      })
      .configureLogging(LogLevel.Warning)
      .build();
    setCurrent(connection);

    // The current connection attempt; replaced whenever `baseUrl` is set.
    let attempt = new ConnectAttempt(tracker, admin);
    const prepare = () => {
      attempt = new ConnectAttempt(tracker, admin && !sinceStart);
      connection.baseUrl = absolute(attempt.url);
    };

    const deliver =
      (kind: HubEvent["kind"]) =>
      (message: HubEvent["message"]): void => {
        if (disposed || !tracker.accept(message?.position)) return;
        callbacks.current.onEvent({ kind, message } as HubEvent);
      };
    connection.on("OrderStatusChanged", deliver("status"));
    connection.on("NewOrderCreated", deliver("created"));
    connection.on("LowStockAlert", deliver("lowStock"));
    // Live only and position-less: not de-duplicated by position, ordered by version instead.
    connection.on("StockLevelChanged", (message: StockLevelChanged) => {
      if (disposed || !callbacks.current.watchStock) return;
      callbacks.current.onStock?.(message);
    });

    // Whether this connection is in the stock watchers (a new connection never is).
    let watching = false;
    let watchCall: Promise<void> = Promise.resolve();
    syncStockWatch.current = () => {
      // One call at a time, so a quick open-close-open of the form ends in the right state.
      watchCall = watchCall.then(async () => {
        if (disposed || connection.state !== HubConnectionState.Connected) return;
        const want = callbacks.current.watchStock === true;
        if (want === watching) return;
        try {
          await connection.invoke(want ? "WatchStock" : "UnwatchStock");
          watching = want;
          if (want) callbacks.current.onStockWatch?.();
        } catch {
          // The connection dropped; the next connect watches again if still wanted.
        }
      });
    };

    // After the replay, before any live message.
    connection.on("Resumed", (result: unknown) => {
      if (disposed) return;
      const { reload, replayed } = attempt.resumed(result);
      setLastReplayed(replayed);
      if (reload.length > 0) callbacks.current.onReload(reload);
      setError(null);
      setState("connected");
    });

    // `start()` resolved or the client reconnected. `Resumed` may already have been handled.
    const connected = () => {
      if (disposed) return;
      // A new connection is in no stock group yet.
      watching = false;
      syncStockWatch.current();
      const { state: next, reload } = attempt.connected();
      if (reload.length > 0) callbacks.current.onReload(reload);
      if (next === null) return;
      setError(null);
      setState(next);
    };

    const start = async () => {
      clearTimeout(retryTimer);
      if (disposed || offline || connection.state !== HubConnectionState.Disconnected) return;
      setState("connecting");
      try {
        prepare();
        await connection.start();
        connected();
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
      if (disposed) return;
      // Every message of the old connection has been delivered: resume after the last one.
      prepare();
      setState(offline ? "offline" : "reconnecting");
    });
    connection.onreconnected(connected);
    connection.onclose(() => {
      if (disposed || sinceStart) return;
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
    replaySinceRef.current = async (since: Date) => {
      if (disposed || offline) throw new Error("Offline.");
      sinceStart = true;
      try {
        clearTimeout(retryTimer);
        await connection.stop();
        tracker = new PositionTracker();
        callbacks.current.onRestart?.();
        setState("connecting");
        prepare();
        await connection.start();
      } catch (e) {
        sinceStart = false;
        void start();
        throw e;
      }
      // Reconnects from here on resume by position, in the dashboard as usual.
      sinceStart = false;
      connected();
      let result: unknown;
      try {
        result = await connection.invoke("ReplaySince", since.toISOString());
      } catch (e) {
        // Refused (the connection is then in no dashboard) or cut short: start over as usual,
        // in the dashboard, resuming after whatever was replayed.
        sinceStart = true;
        await connection.stop();
        sinceStart = false;
        void start();
        throw e;
      }
      const outcome = onReplayedSince(result);
      setLastReplayed(outcome.replayed);
      if (outcome.reload.length > 0) callbacks.current.onReload(outcome.reload);
      return outcome;
    };

    window.addEventListener("offline", goOffline);
    window.addEventListener("online", goOnline);
    if (offline) setState("offline");
    else void start();

    return () => {
      disposed = true;
      syncStockWatch.current = () => {};
      clearTimeout(retryTimer);
      window.removeEventListener("offline", goOffline);
      window.removeEventListener("online", goOnline);
      for (const method of CLIENT_METHODS) connection.off(method);
      void connection.stop();
      setCurrent(null);
    };
  }, [admin]);

  const { watchStock } = options;
  useEffect(() => {
    syncStockWatch.current();
  }, [watchStock]);

  return { state, error, lastReplayed, connection: current, replaySince: (since) => replaySinceRef.current(since) };
}
