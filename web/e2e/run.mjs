// End-to-end runner: starts the system (`cargo xtask up`), runs the scenarios in Debian's
// Chromium, writes screenshots and logs to test-artifacts/, stops the system, exits non-zero on
// any failure.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { CHROMIUM, launch } from "./helpers.mjs";
import { scenarios } from "./scenarios.mjs";
import { startSystem, stopSystem } from "./system.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const artifacts = path.resolve(here, "../test-artifacts");
mkdirSync(artifacts, { recursive: true });

if (!existsSync(CHROMIUM)) {
  console.error(`Chromium not found at ${CHROMIUM}: apt-get install chromium, or set ORDERFLOW_CHROMIUM_BIN`);
  process.exit(1);
}

const started = Date.now();
console.log("e2e: starting the system with `cargo xtask up` …");
// Short-lived demo tokens (the dev identity provider's TTL, inherited through `cargo xtask up`),
// so that the run sees tokens expire and be replaced on reconnect on every page that lives long
// enough. The expiry scenario signs in with 20-second tokens of its own so as not to wait for these.
const TOKEN_TTL_SECONDS = 75;
const system = await startSystem(root, path.join(artifacts, "xtask-up.log"), {
  env: { DEV_IDP_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS) },
});
console.log(`e2e: system ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);

let failed = 0;
let browser;
try {
  browser = await launch();
  for (const scenario of scenarios(browser, artifacts)) {
    const t0 = Date.now();
    try {
      await scenario.run();
      console.log(`  ✓ ${scenario.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed += 1;
      console.error(`  ✗ ${scenario.name}\n    ${e.stack ?? e}`);
      for (const [i, context] of browser.contexts().entries()) {
        for (const page of context.pages()) {
          await page.screenshot({ path: path.join(artifacts, `failure-${failed}-${i}.png`), fullPage: true }).catch(() => {});
        }
      }
      // Later scenarios build on earlier ones; stop at the first failure.
      break;
    }
  }
} catch (e) {
  failed += 1;
  console.error(`e2e: ${e.stack ?? e}`);
} finally {
  await browser?.close().catch(() => {});
  console.log("e2e: stopping the system (SIGINT) …");
  await stopSystem(system);
  console.log(`e2e: done in ${((Date.now() - started) / 1000).toFixed(1)} s; artifacts in ${artifacts}`);
}
process.exit(failed === 0 ? 0 : 1);
