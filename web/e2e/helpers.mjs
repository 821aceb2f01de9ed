// Browser helpers for the end-to-end scenarios: Debian's Chromium through playwright-core (no
// browser download), demo sign-in, and small waiting/assertion utilities with clear messages.
import { chromium } from "playwright-core";

import { WEB_URL } from "./system.mjs";

export const CHROMIUM = process.env.ORDERFLOW_CHROMIUM_BIN || "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const TIMEOUT = 20_000;

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/**
 * A signed-in page for the demo user whose name starts with `name`, connected to the hub.
 * `blockWebSockets`: every WebSocket fails before it opens, as behind a proxy that refuses the
 * upgrade; `window.__eventSources` then counts the Server-Sent Events streams the page opens.
 * `tokenTtlSeconds`: the page's tokens live this long (the dev identity provider takes a lifetime
 * per request; the page's own requests get it added on the way), so one can expire within a
 * scenario instead of after the run-wide lifetime.
 */
export async function signIn(browser, name, { blockWebSockets = false, tokenTtlSeconds } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (blockWebSockets) await context.addInitScript(blockedWebSockets);
  if (tokenTtlSeconds !== undefined) {
    await context.route("**/dev-idp/token", (route) => {
      const body = JSON.parse(route.request().postData() ?? "{}");
      return route.continue({ postData: JSON.stringify({ ...body, ttlSeconds: tokenTtlSeconds }) });
    });
  }
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const navigations = { count: 0 };
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations.count += 1;
  });
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  await page.goto(WEB_URL);
  await page.getByRole("button", { name: new RegExp(`^${name}`) }).click();
  await waitConnected(page);
  return { context, page, navigations };
}

/** Runs in the page before its scripts: WebSockets that error and close without opening. */
function blockedWebSockets() {
  window.WebSocket = class BlockedWebSocket extends EventTarget {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      setTimeout(() => {
        this.readyState = 3;
        this.onerror?.(new Event("error"));
        this.onclose?.(new CloseEvent("close", { code: 1006, wasClean: false }));
      }, 10);
    }
    send() {
      throw new Error("WebSocket is not open");
    }
    close() {}
  };
  window.__eventSources = 0;
  const Native = window.EventSource;
  window.EventSource = class CountedEventSource extends Native {
    constructor(...args) {
      super(...args);
      window.__eventSources += 1;
    }
  };
}

export async function waitConnected(page) {
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
}

export function orderRow(page, orderNumber) {
  return page.locator(`[data-testid="order-row"][data-order-number="${orderNumber}"]`);
}

export async function waitStatus(page, orderNumber, status) {
  await orderRow(page, orderNumber)
    .locator('[data-testid="order-status"]', { hasText: new RegExp(`^${status}$`) })
    .waitFor();
}

/** Puts `quantity` of `sku` in the cart, places the order and confirms it; returns its number. */
export async function placeAndConfirm(page, sku, quantity) {
  await page.locator(`[data-testid="product-card"][data-sku="${sku}"] [data-testid="quantity"]`).fill(String(quantity));
  await page.getByRole("button", { name: "Place order" }).click();
  const notice = page.getByRole("status").filter({ hasText: /^Placed order / });
  await notice.waitFor();
  const orderNumber = (await notice.textContent()).replace(/^Placed order /, "").replace(/\.$/, "");
  await waitStatus(page, orderNumber, "Draft");
  await orderRow(page, orderNumber).getByRole("button", { name: "Confirm order" }).click();
  await waitStatus(page, orderNumber, "Confirmed");
  return orderNumber;
}

/**
 * Clicks the admin action (Process, Ship, Deliver) on an order, confirms it in the confirmation
 * step ("Yes, ship") and waits for the new status.
 */
export async function advance(adminPage, orderNumber, action, expected) {
  await waitStatus(adminPage, orderNumber, { Process: "Confirmed", Ship: "Processing", Deliver: "Shipped" }[action]);
  const row = orderRow(adminPage, orderNumber);
  await row.getByRole("button", { name: action, exact: true }).click();
  await row.getByRole("button", { name: `Yes, ${action.toLowerCase()}`, exact: true }).click();
  await waitStatus(adminPage, orderNumber, expected);
}

/** The status an order row shows now. */
export async function statusOf(page, orderNumber) {
  return orderRow(page, orderNumber).locator('[data-testid="order-status"]').textContent();
}

/** How many pixels the page is wider than its viewport (0 or less: no sideways scrolling). */
export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/** Feed lines mentioning `text`. */
export async function feedCount(page, text) {
  return page.locator('[data-testid="feed"] li', { hasText: text }).count();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
