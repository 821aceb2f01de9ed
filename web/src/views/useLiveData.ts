// State shared by both views: the order list and the live feed, fed by REST loads and hub
// events, plus the product list (refetched after changes, since stock moves without a push,
// except while `watchStock`: then the hub pushes every stock level and they are merged in by
// product version, see state/stock.ts).
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";

import { listOrders, listProducts } from "../api";
import type { TokenStore } from "../auth";
import { resettable } from "../hub/since";
import { useOrderHub } from "../hub/useOrderHub";
import { feedReducer, isUnknownOrder, ordersReducer } from "../state/reducers";
import { stockReducer, withLiveStock } from "../state/stock";
import type { HubEvent, Product } from "../state/types";

/** The feed, which a since replay empties before refilling it. */
const resettableFeed = resettable(feedReducer, []);

export function useLiveData(
  tokens: TokenStore,
  admin: boolean,
  onEvent?: (e: HubEvent) => void,
  { watchStock = false }: { watchStock?: boolean } = {},
) {
  const [orders, dispatchOrders] = useReducer(ordersReducer, []);
  const [stockLevels, dispatchStock] = useReducer(stockReducer, {});
  const [feed, pushFeed] = useReducer(resettableFeed, []);
  const [products, setProducts] = useState<Product[] | null>(null);
  const [ordersLoaded, setOrdersLoaded] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const ordersRef = useRef(orders);
  ordersRef.current = orders;
  const productTimer = useRef<ReturnType<typeof setTimeout>>();

  const loadOrders = useCallback(async () => {
    try {
      dispatchOrders({ type: "loaded", orders: await listOrders(tokens) });
      setOrdersLoaded(true);
      setLoadError(null);
    } catch (e) {
      setLoadError(e instanceof Error ? e.message : String(e));
    }
  }, [tokens]);

  const loadProducts = useCallback(async () => {
    try {
      const loaded = await listProducts(tokens);
      setProducts(loaded);
      dispatchStock({ type: "loaded", products: loaded });
      setLoadError(null);
    } catch (e) {
      setLoadError(e instanceof Error ? e.message : String(e));
    }
  }, [tokens]);

  // Whether stock is live: watched on this connection and reloaded since the watch began.
  const [stockLive, setStockLive] = useState(false);

  /** Coalesces bursts of changes into one catalog fetch. */
  const refreshProductsSoon = useCallback(() => {
    clearTimeout(productTimer.current);
    productTimer.current = setTimeout(() => void loadProducts(), 400);
  }, [loadProducts]);

  useEffect(() => {
    void loadOrders();
    void loadProducts();
    return () => clearTimeout(productTimer.current);
  }, [loadOrders, loadProducts]);

  useEffect(() => {
    // Stock also moves without a pushed event (reservations that cross no threshold), unless
    // stock levels are watched: then every change is pushed.
    if (watchStock) return undefined;
    const poll = setInterval(() => void loadProducts(), 10_000);
    return () => clearInterval(poll);
  }, [loadProducts, watchStock]);

  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;
  const hub = useOrderHub({
    getAccessToken: () => tokens.getToken(),
    admin,
    onEvent: (event) => {
      pushFeed(event);
      onEventRef.current?.(event);
      if (event.kind === "status") {
        if (isUnknownOrder(ordersRef.current, event.message)) void loadOrders();
        else dispatchOrders({ type: "status", message: event.message });
      } else if (event.kind === "created") {
        dispatchOrders({ type: "created", message: event.message });
      }
      refreshProductsSoon();
    },
    onRestart: () => pushFeed(null),
    onReload: (streams) => {
      if (streams.includes("ORDERS")) void loadOrders();
      refreshProductsSoon();
    },
    watchStock,
    onStock: (message) => dispatchStock({ type: "pushed", message }),
    // What changed while not watching (before the call, or while reconnecting).
    onStockWatch: () => void loadProducts().then(() => setStockLive(true)),
  });

  const down = hub.state === "connecting" || hub.state === "reconnecting" || hub.state === "offline";
  useEffect(() => {
    // A new connection is in no stock group until the hook has watched again.
    if (!watchStock || down) setStockLive(false);
  }, [watchStock, down]);

  const liveProducts = useMemo(() => withLiveStock(products, stockLevels), [products, stockLevels]);

  return {
    orders,
    ordersLoaded,
    dispatchOrders,
    feed,
    products: liveProducts,
    loadProducts,
    loadOrders,
    loadError,
    hub,
    /** Stock levels are pushed to this page right now (`watchStock`, watched and reloaded). */
    stockLive: watchStock && stockLive,
  };
}
