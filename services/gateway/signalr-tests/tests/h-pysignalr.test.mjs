// A second, independent client: pysignalr from PyPI (python/pysignalr_client.py), which
// negotiates version 0 and speaks JSON or MessagePack. Each protocol: a customer's four status
// changes in order; and after a drop, a fresh client with `resume=` in its hub URL gets what it
// missed, then `Resumed`, then live updates, nothing lost or repeated.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { env, token, hubUrl, statusChange } from "./helpers.mjs";

const script = fileURLToPath(new URL("../python/pysignalr_client.py", import.meta.url));

function python(args, vars) {
  return new Promise((resolve, reject) => {
    execFile("python3", [script, ...args], {
      env: { ...process.env, PYTHONPATH: process.env.PYSIGNALR_DIR, ...vars },
      timeout: 30_000,
    }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`pysignalr failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)));
    });
  });
}

for (const protocol of ["json", "messagepack"]) {
  test(`pysignalr over ${protocol}: four updates in order, then a drop, then resume loses nothing`, async () => {
    const customer = crypto.randomUUID();
    const jwt = token({ sub: customer });
    const first = await python(["updates", protocol], {
      PY_JWT: jwt, PY_CUSTOMER: customer, PY_HUB_URL: hubUrl(env.a),
    });
    assert.deepEqual(first.got.map((u) => u.position), first.sent);
    assert.deepEqual(first.got.map((u) => u.newStatus), ["Confirmed", "Processing", "Shipped", "Delivered"]);
    // JSON carries RFC 3339 text; MessagePack the timestamp extension (msgpack.Timestamp,
    // printed by the script as ISO 8601): the same instant, close to now.
    const updatedAt = new Date(first.got[0].updatedAt).getTime();
    assert.ok(Math.abs(updatedAt - Date.now()) < 60_000, first.got[0].updatedAt);

    // The client process is gone (the drop); two updates happen meanwhile.
    const order = crypto.randomUUID();
    const missed = [];
    for (const [o, n] of [["Draft", "Confirmed"], ["Confirmed", "Processing"]]) {
      missed.push((await statusChange(customer, order, o, n)).position);
    }
    const url = new URL(hubUrl(env.b));
    url.searchParams.set("resume", first.sent.at(-1));
    const second = await python(["resume", protocol], {
      PY_JWT: jwt, PY_CUSTOMER: customer, PY_HUB_URL: url.toString(), PY_MISSED: String(missed.length),
    });
    assert.deepEqual(second.got.map((u) => u.position), [...missed, ...second.sent]);
    assert.deepEqual(second.resumed, [{ status: "ok", replayed: 2 }]);
  });
}
