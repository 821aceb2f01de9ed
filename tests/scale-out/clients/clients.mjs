// SignalR clients for the scale-out test, using the official @microsoft/signalr client exactly
// as the web app does: automatic reconnect, and the hub URL says where the client stopped
// (`resume=` with the last position seen per stream, `dashboard=true` for admins), updated in
// `onreconnecting`, so the gateway replays what was missed before anything live and confirms
// with `Resumed`. Clients reach the gateways through small failover proxies (one per gateway,
// falling back to the other), playing the load balancer: when a gateway dies, its clients'
// reconnects land on the survivor.
//
// Input: SCALE_OUT_CONFIG = {"gateways": [urlA, urlB], "clients": [{"id", "token", "admin",
// "gateway": 0|1, "start": "ORDERS:n"}]}. Output: one JSON line per event on stdout (see
// tests/scale-out/src/ledger.rs). Ends when stdin closes.
import * as signalR from "@microsoft/signalr";
import { out, pipeToFirstAccepting, proxyServer, runClients } from "./harness.mjs";

const config = JSON.parse(process.env.SCALE_OUT_CONFIG ?? "null");
if (!config) throw new Error("run through `cargo test -p orderflow-scale-out`");

/** TCP proxy to targets[0], or targets[1] when the first refuses the connection. */
function failoverProxy(targets) {
  return proxyServer((client) => {
    client.pause();
    pipeToFirstAccepting(client, targets);
  });
}

let stopping = false;
const [a, b] = config.gateways;
const proxies = [await failoverProxy([a, b]), await failoverProxy([b, a])];

async function runClient(spec) {
  const hub = `${proxies[spec.gateway].url}/hubs/orders`;
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(hub, { accessTokenFactory: () => spec.token })
    // The first retry waits 300 ms, so that events are published while the client is away and
    // `Resume` has something to replay; then keep retrying (a NATS election can take seconds).
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 300 })
    .configureLogging(signalR.LogLevel.None)
    .build();
  // Last position per stream; starts at the stream position before the driver ran, so even a
  // client that saw nothing yet can resume without a gap.
  const last = {};
  const [stream] = spec.start.split(":");
  last[stream] = spec.start;
  for (const method of ["OrderStatusChanged", "NewOrderCreated", "LowStockAlert"]) {
    connection.on(method, (m) => {
      out({ c: spec.id, t: "msg", m: method, p: m.position });
      const [s, seq] = m.position.split(":");
      if (!last[s] || Number(last[s].split(":")[1]) < Number(seq)) last[s] = m.position;
    });
  }
  const url = () => {
    const u = new URL(hub);
    u.searchParams.set("resume", Object.values(last).join(","));
    if (spec.admin) u.searchParams.set("dashboard", "true");
    return u.toString();
  };
  let ready;
  const first = new Promise((resolve) => { ready = resolve; });
  connection.on("Resumed", (r) => {
    out({ c: spec.id, t: "resumed", r: { ...r, from: new URL(connection.baseUrl).searchParams.get("resume") } });
    ready();
  });
  connection.onreconnecting(() => {
    out({ c: spec.id, t: "reconnecting" });
    connection.baseUrl = url();
  });
  connection.onclose((e) => { if (!stopping) out({ c: spec.id, t: "error", e: `closed: ${e}` }); });
  // Resume from the start position at once, so nothing between it and connecting is missed.
  connection.baseUrl = url();
  await connection.start();
  await first;
  out({ c: spec.id, t: "ready" });
  return connection;
}

await runClients(config.clients, runClient, proxies, () => { stopping = true; });
