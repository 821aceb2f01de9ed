// State shared by both views: the order list and the live feed, fed by REST loads and hub
// events, plus the product list (refetched after changes, since stock moves without a push).
import { useCallback, useEffect, useReducer, useRef, useState } from "react";

import { listOrders, listProducts } from "../api";
import type { TokenStore } from "../auth";
import { resettable } from "../hub/since";
import { useOrderHub } from "../hub/useOrderHub";
import { feedReducer, isUnknownOrder, ordersReducer } from "../state/reducers";
import type { HubEvent, Product } from "../state/types";

/** The feed, which a since replay empties before refilling it. */
const resettableFeed = resettable(feedReducer, []);

export function useLiveData(tokens: TokenStore, admin: boolean, onEvent?: (e: HubEvent) => void) {
  const [orders, dispatchOrders] = useReducer(ordersReducer, []);
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
      setProducts(await listProducts(tokens));
      setLoadError(null);
    } catch (e) {
      setLoadError(e instanceof Error ? e.message : String(e));
    }
  }, [tokens]);

  /** Coalesces bursts of changes into one catalog fetch. */
  const refreshProductsSoon = useCallback(() => {
    clearTimeout(productTimer.current);
    productTimer.current = setTimeout(() => void loadProducts(), 400);
  }, [loadProducts]);

  useEffect(() => {
    void loadOrders();
    void loadProducts();
    // Stock also moves without a pushed event (reservations that cross no threshold).
    const poll = setInterval(() => void loadProducts(), 10_000);
    return () => {
      clearInterval(poll);
      clearTimeout(productTimer.current);
    };
  }, [loadOrders, loadProducts]);

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
  });

  return {
    orders,
    ordersLoaded,
    dispatchOrders,
    feed,
    products,
    loadProducts,
    loadOrders,
    loadError,
    hub,
  };
}
