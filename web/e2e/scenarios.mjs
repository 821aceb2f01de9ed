// The end-to-end scenarios of issues 5 and 21, run against the real system in real Chromium.
import path from "node:path";

import {
  advance,
  assert,
  feedCount,
  horizontalOverflow,
  orderRow,
  placeAndConfirm,
  signIn,
  sleep,
  statusOf,
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
      name: "admin cancels with a reason from the dashboard, after confirming; the customer sees the reason live",
      async run() {
        const { alice, admin } = shared;
        const number = await placeAndConfirm(alice.page, "DK-006", 1);
        await waitStatus(admin.page, number, "Confirmed");
        const row = orderRow(admin.page, number);
        const reason = "Warehouse flooded — sorry, refunded in full";
        // Choosing Cancel only asks; Back leaves the order alone.
        await row.getByRole("button", { name: /^Cancel .*…$/ }).click();
        await row.getByTestId("confirm-cancel").waitFor();
        await sleep(1000);
        assert((await statusOf(admin.page, number)) === "Confirmed", "nothing is sent before the confirmation");
        assert((await statusOf(alice.page, number)) === "Confirmed", "the customer saw nothing change");
        await row.getByRole("button", { name: "Back", exact: true }).click();
        await row.getByTestId("confirm-cancel").waitFor({ state: "detached" });
        // Now for real, with a reason.
        await row.getByRole("button", { name: /^Cancel .*…$/ }).click();
        await row.getByTestId("cancel-reason-input").fill(reason);
        await row.getByRole("button", { name: "Yes, cancel order", exact: true }).click();
        await waitStatus(admin.page, number, "Cancelled");
        // The customer's feed and order show the reason, pushed live (no reload).
        await waitStatus(alice.page, number, "Cancelled");
        await alice.page.locator('[data-testid="feed"] li', { hasText: reason }).waitFor();
        assert((await feedCount(alice.page, reason)) === 1, "the reason once in the customer's feed");
        const shown = await orderRow(alice.page, number).getByTestId("cancel-reason").textContent();
        assert(shown.includes(reason), `the customer's order shows "${shown}"`);
        assert(alice.navigations.count === 1, "no reload");
        await admin.page.locator('[data-testid="feed"] li', { hasText: reason }).waitFor();
        await shot(alice.page, "customer-cancel-reason");

        // The API decides: an order the customer cancelled meanwhile cannot be cancelled again,
        // and the dashboard shows the API's problem detail.
        const second = await placeAndConfirm(alice.page, "DK-006", 1);
        await waitStatus(admin.page, second, "Confirmed");
        const secondRow = orderRow(admin.page, second);
        await secondRow.getByRole("button", { name: /^Cancel .*…$/ }).click();
        await secondRow.getByTestId("cancel-reason-input").fill("Too late");
        const id = await orderRow(alice.page, second).getAttribute("data-order-id");
        const status = await alice.page.evaluate(async (orderId) => {
          const session = JSON.parse(sessionStorage.getItem("orderflow.session"));
          const r = await fetch(`/api/orders/${orderId}/cancel`, {
            method: "POST",
            headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json" },
            body: JSON.stringify({ reason: "Changed my mind" }),
          });
          return r.status;
        }, id);
        assert(status === 200, `the customer's own cancel got HTTP ${status}`);
        await waitStatus(admin.page, second, "Cancelled");
        await secondRow.getByRole("button", { name: "Yes, cancel order", exact: true }).click();
        const error = secondRow.getByTestId("action-error");
        await error.waitFor();
        const detail = await error.textContent();
        assert(/cancel/i.test(detail) && !/server answered/i.test(detail), `the problem's detail is shown: "${detail}"`);
        await shot(admin.page, "admin-action-error");
        await secondRow.getByRole("button", { name: "Back", exact: true }).click();
      },
    },
    {
      name: "admin advances an order's status from the dashboard, after confirming",
      async run() {
        const { alice, admin } = shared;
        const number = await placeAndConfirm(alice.page, "DL-010", 1);
        await waitStatus(admin.page, number, "Confirmed");
        const row = orderRow(admin.page, number);
        await row.getByRole("button", { name: "Process", exact: true }).click();
        await row.getByTestId("confirm-advance").waitFor();
        await sleep(1000);
        assert((await statusOf(admin.page, number)) === "Confirmed", "nothing is sent before the confirmation");
        await row.getByRole("button", { name: "Back", exact: true }).click();
        await advance(admin.page, number, "Process", "Processing");
        await waitStatus(alice.page, number, "Processing");
        await advance(admin.page, number, "Ship", "Shipped");
        await waitStatus(alice.page, number, "Shipped");
        await advance(admin.page, number, "Deliver", "Delivered");
        await waitStatus(alice.page, number, "Delivered");
        assert((await row.getByRole("button").count()) === 0, "a delivered order has no actions left");
      },
    },
    {
      name: "the order form knows live stock: refuses a quantity above it and follows stock changes without a refresh",
      async run() {
        const { alice, admin, bob } = shared;
        const sku = "HS-004"; // demo catalog: 40 in stock, threshold 10; untouched by earlier scenarios
        await alice.page
          .locator(`[data-testid="product-card"][data-sku="${sku}"]`)
          .getByRole("button", { name: "Add to cart" })
          .click();
        const form = alice.page.getByTestId("order-form");
        await alice.page.locator('[data-testid="order-form"][data-live="true"]').waitFor();
        const line = form.locator(`[data-testid="cart-line"][data-sku="${sku}"]`);
        const stockOf = async () => Number(await line.getByTestId("cart-stock").getAttribute("data-stock"));
        const available = await stockOf();
        assert(available > 0, `${sku} has stock (${available})`);
        const place = form.getByRole("button", { name: "Place order" });

        // Above the stock: refused and explained before anything is sent.
        await line.getByTestId("cart-quantity").fill(String(available + 1));
        await line.getByTestId("cart-problem").filter({ hasText: `Only ${available} in stock` }).waitFor();
        assert(await place.isDisabled(), "Place order is blocked above the stock");

        // Stock changes reach the open form by push, not by refetching the catalog: from here on
        // the catalog API is unreachable for this page (a reconnect's reload just fails).
        const catalog = (url) => url.pathname.startsWith("/api/products");
        const refused = [];
        await alice.page.route(catalog, (route) => {
          refused.push(route.request().url());
          return route.abort();
        });
        const stockRow = admin.page.locator(`[data-testid="stock-row"][data-sku="${sku}"]`);
        await stockRow.locator('[data-testid="restock-quantity"]').fill("5");
        await stockRow.getByRole("button", { name: "Restock" }).click();
        await line.locator(`[data-testid="cart-stock"][data-stock="${available + 5}"]`).waitFor();
        await line.getByTestId("cart-problem").waitFor({ state: "detached" });
        assert(!(await place.isDisabled()), "within the new stock the order can be placed");

        // Another customer's order reserves 5: the same quantity is refused again.
        await placeAndConfirm(bob.page, sku, 5);
        await line.locator(`[data-testid="cart-stock"][data-stock="${available}"]`).waitFor();
        await line.getByTestId("cart-problem").filter({ hasText: `Only ${available} in stock` }).waitFor();
        assert(await place.isDisabled(), "blocked again after the stock went down");
        assert(alice.navigations.count === 1, "no reload");
        await alice.page.unroute(catalog);
        if (refused.length > 0) console.log(`    (catalog requests refused meanwhile: ${refused.length})`);
        await shot(alice.page, "customer-stock-aware-form");

        // Within stock it goes through; the cart empties and the form stops watching.
        await line.getByTestId("cart-quantity").fill(String(available));
        assert(!(await place.isDisabled()), "at the stock level the order can be placed");
        await line.getByRole("button", { name: /^Remove / }).click();
        await form.getByTestId("cart").waitFor({ state: "detached" });
      },
    },
    {
      name: "the admin dashboard fits a 390 px phone and a 1280 px screen without sideways scrolling",
      async run() {
        const { admin } = shared;
        const page = admin.page;
        for (const [width, height] of [[390, 844], [1280, 900]]) {
          await page.setViewportSize({ width, height });
          await sleep(300);
          const overflow = await horizontalOverflow(page);
          assert(overflow <= 0, `at ${width} px the dashboard is ${overflow} px wider than the screen`);
          await shot(page, `admin-dashboard-${width}`);
          // With a confirmation step open as well.
          await page.getByRole("button", { name: /^Cancel .*…$/ }).first().click();
          await page.getByTestId("confirm-cancel").first().waitFor();
          const open = await horizontalOverflow(page);
          assert(open <= 0, `at ${width} px with a cancel form open the dashboard is ${open} px too wide`);
          await shot(page, `admin-dashboard-${width}-cancel-form`);
          await page.getByTestId("confirm-cancel").first().getByRole("button", { name: "Back", exact: true }).click();
        }
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
    {
      name: "admin opens the dashboard since a time before an order was placed: it is replayed, then a new order arrives live",
      async run() {
        const { alice } = shared;
        // The control takes local minutes: the start of the current minute, before the order.
        const since = await alice.page.evaluate(() => {
          const d = new Date();
          const pad = (n) => String(n).padStart(2, "0");
          return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
        });
        const earlier = await placeAndConfirm(alice.page, "MS-002", 1);
        // A dashboard opened afterwards: its feed starts empty (live only).
        const late = await signIn(browser, "Ada");
        assert((await feedCount(late.page, earlier)) === 0, "a fresh dashboard feed is empty");

        await late.page.getByTestId("since-input").fill(since);
        await late.page.getByTestId("since-submit").click();
        await late.page.getByTestId("since-result").filter({ hasText: /^Replayed \d+ updates? since/ }).waitFor();
        await waitConnected(late.page);
        assert((await feedCount(late.page, `New order ${earlier} `)) === 1, "the creation replayed once");
        assert((await feedCount(late.page, `Order ${earlier}: Draft → Confirmed`)) === 1, "the confirmation replayed once");

        const next = await placeAndConfirm(alice.page, "MS-002", 1);
        await late.page.locator('[data-testid="feed"] li', { hasText: `Order ${next}: Draft → Confirmed` }).waitFor();
        await sleep(1500);
        for (const text of [`New order ${earlier} `, `Order ${earlier}: Draft → Confirmed`, `New order ${next} `, `Order ${next}: Draft → Confirmed`]) {
          const n = await feedCount(late.page, text);
          assert(n === 1, `"${text}" once in the feed, saw ${n}`);
        }
        assert(late.navigations.count === 1, "no page reload");
        await shot(late.page, "admin-since");
        await late.context.close();
      },
    },
    {
      name: "the admin dashboard lists the customers online, live: one appears when their page connects and disappears when it closes",
      async run() {
        const { admin } = shared;
        const panel = admin.page.getByTestId("presence-panel");
        const chip = (name) => panel.locator('[data-testid="presence-row"]', { hasText: name });
        // Alice has been connected all along; the admin herself is not a customer.
        await chip("Alice Martin").waitFor();
        assert((await chip("Ada").count()) === 0, "admins are not listed");
        // Bob has had a page open since the first scenario: closing it takes him off the list.
        await chip("Bob Chen").waitFor();
        await shared.bob.context.close();
        await chip("Bob Chen").waitFor({ state: "detached" });
        // A new page of his connects: he appears, live, without the admin reloading anything.
        const bob = await signIn(browser, "Bob");
        await chip("Bob Chen").waitFor();
        assert((await chip("Bob Chen").count()) === 1, "one entry per customer");
        await shot(admin.page, "admin-presence");
        await bob.context.close();
        await chip("Bob Chen").waitFor({ state: "detached" });
        assert(admin.navigations.count === 1, "the dashboard was not reloaded");
        // Alice, still connected, is still listed.
        assert((await chip("Alice Martin").count()) === 1, "Alice is still online");
      },
    },
  ];
}
