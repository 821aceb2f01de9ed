// The four end-to-end scenarios of issue 5, run against the real system in real Chromium.
import path from "node:path";

import {
  advance,
  assert,
  feedCount,
  orderRow,
  placeAndConfirm,
  signIn,
  sleep,
  waitConnected,
  waitStatus,
} from "./helpers.mjs";

export function scenarios(browser, artifacts) {
  const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
  const shared = {};

  return [
    {
      name: "customer places and confirms; admin processes and ships; customer sees Processing then Shipped live",
      async run() {
        const alice = await signIn(browser, "Alice");
        const admin = await signIn(browser, "Ada");
        const bob = await signIn(browser, "Bob");
        Object.assign(shared, { alice, admin, bob });

        const number = await placeAndConfirm(alice.page, "MS-002", 1);
        shared.aliceOrders = [number];
        // The admin learns about it live (NewOrderCreated, then the confirmation).
        await waitStatus(admin.page, number, "Confirmed");
        await advance(admin.page, number, "Process", "Processing");
        await waitStatus(alice.page, number, "Processing");
        await advance(admin.page, number, "Ship", "Shipped");
        await waitStatus(alice.page, number, "Shipped");
        assert(alice.navigations.count === 1, `the customer page was reloaded (${alice.navigations.count} navigations)`);
        assert((await feedCount(alice.page, `${number}: Confirmed → Processing`)) === 1, "Processing once in the feed");
        assert((await feedCount(alice.page, `${number}: Processing → Shipped`)) === 1, "Shipped once in the feed");
        await shot(alice.page, "customer-view");
        await shot(admin.page, "admin-dashboard");
        // Readable on a phone: one column, nothing wider than the screen.
        await alice.page.setViewportSize({ width: 390, height: 844 });
        const overflow = await alice.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert(overflow <= 0, `the customer page is ${overflow}px wider than a phone screen`);
        await shot(alice.page, "customer-view-phone");
        await alice.page.setViewportSize({ width: 1280, height: 900 });
      },
    },
    {
      name: "admin restock and an order dropping a product below its threshold: exactly one low-stock alert",
      async run() {
        const { alice, admin } = shared;
        const sku = "WC-005"; // demo catalog: 12 in stock, threshold 10
        const alerts = admin.page.locator(`[data-testid="low-stock-alert"][data-sku="${sku}"]`);
        assert((await alerts.count()) === 0, "no alert before the scenario");
        const row = admin.page.locator(`[data-testid="stock-row"][data-sku="${sku}"]`);
        const before = Number(await row.locator('[data-testid="stock-level"]').textContent());
        await row.locator('[data-testid="restock-quantity"]').fill("8");
        await row.getByRole("button", { name: "Restock" }).click();
        await row.locator('[data-testid="stock-level"]', { hasText: new RegExp(`^${before + 8}$`) }).waitFor();
        // A restock raises no alert; an order taking the level from before+8 to threshold-1 does.
        const quantity = before + 8 - 9;
        const number = await placeAndConfirm(alice.page, sku, quantity);
        shared.aliceOrders.push(number);
        await alerts.first().waitFor();
        await row.locator('[data-testid="stock-level"]', { hasText: /^9$/ }).waitFor();
        await sleep(2000);
        assert((await alerts.count()) === 1, `exactly one low-stock alert, saw ${await alerts.count()}`);
        await shot(admin.page, "admin-low-stock-alert");
      },
    },
    {
      name: "customer offline while the admin ships; back online the update appears exactly once",
      async run() {
        const { alice, admin } = shared;
        const number = await placeAndConfirm(alice.page, "CB-007", 2);
        shared.aliceOrders.push(number);
        await advance(admin.page, number, "Process", "Processing");
        await waitStatus(alice.page, number, "Processing");

        await alice.context.setOffline(true);
        await alice.page.locator('[data-testid="connection-state"][data-state="offline"]').waitFor();
        await advance(admin.page, number, "Ship", "Shipped");
        await sleep(1500);
        assert(
          (await orderRow(alice.page, number).locator('[data-testid="order-status"]').textContent()) === "Processing",
          "an offline page cannot have received the shipment",
        );
        await shot(alice.page, "customer-offline");

        await alice.context.setOffline(false);
        await waitConnected(alice.page);
        await waitStatus(alice.page, number, "Shipped");
        // It came back through a resume (a replay of what was missed), not a page reload.
        const replayed = await alice.page.getByTestId("connection-state").getAttribute("data-last-replayed");
        assert(Number(replayed) >= 1, `the resume replayed ${replayed} messages`);
        await sleep(1500);
        const shipped = await feedCount(alice.page, `${number}: Processing → Shipped`);
        assert(shipped === 1, `the shipment appears once in the feed, saw ${shipped}`);
        assert(alice.navigations.count === 1, "no reload");
      },
    },
    {
      name: "a customer never sees another customer's orders or updates",
      async run() {
        const { alice, bob } = shared;
        // Bob has been connected through all of Alice's activity above.
        for (const number of shared.aliceOrders) {
          assert((await orderRow(bob.page, number).count()) === 0, `Bob's list shows Alice's ${number}`);
          assert((await feedCount(bob.page, number)) === 0, `Bob's feed mentions Alice's ${number}`);
        }
        const bobs = await placeAndConfirm(bob.page, "DL-010", 1);
        await sleep(1500);
        assert((await orderRow(alice.page, bobs).count()) === 0, "Alice's list shows Bob's order");
        assert((await feedCount(alice.page, bobs)) === 0, "Alice's feed mentions Bob's order");
        // Not by asking the API directly either: another customer's order is "not found".
        const aliceId = await orderRow(alice.page, shared.aliceOrders[0]).getAttribute("data-order-id");
        const status = await bob.page.evaluate(async (id) => {
          const session = JSON.parse(sessionStorage.getItem("orderflow.session"));
          const r = await fetch(`/api/orders/${id}`, { headers: { Authorization: `Bearer ${session.token}` } });
          return r.status;
        }, aliceId);
        assert(status === 404, `Bob reading Alice's order got HTTP ${status}`);
        await shot(bob.page, "customer-view-bob");
      },
    },
    {
      name: "WebSockets blocked: the browser falls back to Server-Sent Events and still sees updates live",
      async run() {
        const { admin } = shared;
        const blocked = await signIn(browser, "Bob", { blockWebSockets: true });
        const streams = await blocked.page.evaluate(() => window.__eventSources);
        assert(streams >= 1, `the page opened ${streams} event streams`);
        const number = await placeAndConfirm(blocked.page, "DL-010", 1);
        await waitStatus(admin.page, number, "Confirmed");
        await advance(admin.page, number, "Process", "Processing");
        await waitStatus(blocked.page, number, "Processing");
        assert((await feedCount(blocked.page, `${number}: Confirmed → Processing`)) === 1, "Processing once in the feed");
        await shot(blocked.page, "customer-view-server-sent-events");
        await blocked.context.close();
      },
    },
    {
      name: "an expired token is replaced on reconnect and live updates continue",
      async run() {
        const { admin } = shared;
        // A sign-in of its own whose tokens live 20 s, so the expiry comes within the scenario
        // (with the run-wide lifetime it waited about a minute for Alice's first token).
        const alice = await signIn(browser, "Alice", { tokenTtlSeconds: 20 });
        const number = await placeAndConfirm(alice.page, "MP-011", 1);
        // Record every connection state the badge shows from now on.
        await alice.page.evaluate(() => {
          const badge = document.querySelector('[data-testid="connection-state"]');
          window.__states = [];
          // Old values too, so a state that lasted less than one callback is not lost.
          new MutationObserver((records) => {
            for (const r of records) window.__states.push(r.oldValue);
            window.__states.push(badge.dataset.state);
          }).observe(badge, { attributes: true, attributeFilter: ["data-state"], attributeOldValue: true });
        });
        // The gateway closes a connection whose token expired; the hook reconnects with a new one.
        // (Not "resuming": `Resumed` can arrive with the handshake answer, before that state renders.)
        await alice.page.waitForFunction(() => window.__states.includes("reconnecting"), null, { timeout: 120_000 });
        await waitConnected(alice.page);
        // Reconnecting needs a valid token (negotiate rejects an expired one): it was replaced.
        const exp = await alice.page.evaluate(() => {
          const token = JSON.parse(sessionStorage.getItem("orderflow.session")).token;
          return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).exp;
        });
        assert(exp * 1000 > Date.now(), "the current token is valid");
        await advance(admin.page, number, "Process", "Processing");
        await waitStatus(alice.page, number, "Processing");
        const states = await alice.page.evaluate(() => window.__states);
        assert(!states.includes("offline"), `never offline: ${states.join(" → ")}`);
        await alice.context.close();
      },
    },
  ];
}
