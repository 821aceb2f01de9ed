// SignalR clients for the chaos suite (tests/chaos), using the official @microsoft/signalr
// client as a browser app would: automatic reconnect that never gives up, and resume declared in
// the hub URL as the gateway's client contract says: `?resume=<positions>` (plus
// `&dashboard=true` for admins), set with `connection.baseUrl` inside `onreconnecting` (and
// before the first `start()`, since every client starts from a known position); the gateway
// replays what was missed, then sends one `Resumed`. Mode "invoke" instead calls the older
// `JoinAdminDashboard` + `Resume` hub methods after each reconnect (for gateways without URL
// resume).
//
// Clients reach the gateways through small failover proxies (one per gateway, falling back to
// the other), playing the load balancer: when a gateway dies, its clients' reconnects land on
// the survivor. Clients with `cross` negotiate on the other gateway than the one carrying their
// socket, every time (the connection token must be valid on any gateway of the deployment).
//
// Input: CHAOS_CLIENTS_CONFIG = {"gateways": [urlA, urlB], "mode": "url"|"invoke",
// "clients": [{"id", "token", "admin", "gateway": 0|1, "cross": bool, "start": "ORDERS:n",
// "transport": "WebSockets"|"ServerSentEvents"|"LongPolling"}]}. With Server-Sent Events and long
// polling, `cross` sends every POST (and negotiate) to the other gateway than the stream or
// the polls: the gateways forward between them.
// Output: one JSON line per event on stdout, {"c": id, "t": kind, ...} with kind `ready`,
// `msg` (`m` method, `p` position), `reconnecting`, `resumed` (`r`, the Resumed argument or
// Resume result) or `error` (`e`); read by tests/chaos/src/clients.rs. Ends when stdin closes.
import * as signalR from "@microsoft/signalr";
import { out, pipeToFirstAccepting, proxyServer, runClients } from "../../scale-out/clients/harness.mjs";

const config = JSON.parse(process.env.CHAOS_CLIENTS_CONFIG ?? "null");
if (!config) throw new Error("run through `cargo xtask chaos`");
const byUrl = config.mode !== "invoke";
// A reconnect without a `Resumed` this long after it completed is reported as an error.
const RESUMED_WITHIN_MS = 5000;

/**
 * TCP proxy to targets[0], or targets[1] when the first refuses the connection. With
 * `negotiateElsewhere`, a connection whose first bytes are an HTTP POST (the negotiate; the
 * WebSocket is a GET) goes to the other target first, so every negotiate is answered by the
 * gateway that will not carry the socket: a load balancer without sticky sessions at its worst.
 */
function failoverProxy(targets, negotiateElsewhere = false) {
  return proxyServer((client) => {
    client.once("data", (first) => {
      client.pause();
      const isNegotiate = first.subarray(0, 5).toString() === "POST ";
      const order = negotiateElsewhere && isNegotiate ? [targets[1], targets[0]] : targets;
      pipeToFirstAccepting(client, order, first);
    });
  });
}

let stopping = false;
const [a, b] = config.gateways;
// [gateway][cross]: behind gateway 0 or 1, negotiating on the same gateway or the other one.
const proxies = [
  [await failoverProxy([a, b]), await failoverProxy([a, b], true)],
  [await failoverProxy([b, a]), await failoverProxy([b, a], true)],
];

async function runClient(spec) {
  const hubUrl = `${proxies[spec.gateway][spec.cross ? 1 : 0].url}/hubs/orders`;
  // Last position per stream; starts at the stream's end before the load, so even a client
  // that saw nothing yet resumes without a gap.
  const last = {};
  last[spec.start.split(":")[0]] = spec.start;
  const resumeUrl = () => {
    const positions = encodeURIComponent(Object.values(last).join(","));
    return `${hubUrl}?resume=${positions}${spec.admin ? "&dashboard=true" : ""}`;
  };
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(byUrl ? resumeUrl() : hubUrl, {
      accessTokenFactory: () => spec.token,
      transport: signalR.HttpTransportType[spec.transport ?? "WebSockets"],
    })
    // Retry every 300 ms for ever: events are published while a client is away, so there is
    // something to replay, and an outage of several seconds must not end the client.
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 300 })
    .configureLogging(signalR.LogLevel.None)
    .build();
  for (const method of ["OrderStatusChanged", "NewOrderCreated", "LowStockAlert"]) {
    connection.on(method, (m) => {
      out({ c: spec.id, t: "msg", m: method, p: m.position });
      const [s, seq] = m.position.split(":");
      if (!last[s] || Number(last[s].split(":")[1]) < Number(seq)) last[s] = m.position;
    });
  }
  // Counts `Resumed` messages, so a reconnect can check that one came after it.
  let resumedCount = 0;
  connection.on("Resumed", (r) => {
    resumedCount += 1;
    out({ c: spec.id, t: "resumed", r });
  });
  let resumedBefore = 0;
  connection.onreconnecting(() => {
    out({ c: spec.id, t: "reconnecting" });
    resumedBefore = resumedCount;
    // Allowed in the Reconnecting state; runs before the first reconnect attempt.
    if (byUrl) connection.baseUrl = resumeUrl();
  });
  let reconnected = 0;
  connection.onreconnected(async () => {
    if (byUrl) {
      const mine = ++reconnected;
      const before = resumedBefore;
      setTimeout(() => {
        // Only if this connection is still the current one: a reconnect that dropped again
        // before its `Resumed` is followed by another reconnect, which is checked instead.
        if (!stopping && mine === reconnected && connection.state === signalR.HubConnectionState.Connected
            && resumedCount === before) {
          out({ c: spec.id, t: "error", e: `resume: no Resumed within ${RESUMED_WITHIN_MS} ms of reconnecting` });
        }
      }, RESUMED_WITHIN_MS);
      return;
    }
    try {
      if (spec.admin) await connection.invoke("JoinAdminDashboard");
      const r = await connection.invoke("Resume", Object.values(last));
      out({ c: spec.id, t: "resumed", r });
    } catch (e) {
      out({ c: spec.id, t: "error", e: `resume: ${e}` });
    }
  });
  connection.onclose((e) => { if (!stopping) out({ c: spec.id, t: "error", e: `closed: ${e}` }); });
  await connection.start();
  if (byUrl) {
    const deadline = Date.now() + RESUMED_WITHIN_MS;
    while (resumedCount === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (resumedCount === 0) out({ c: spec.id, t: "error", e: "resume: no Resumed after start" });
  } else {
    if (spec.admin) await connection.invoke("JoinAdminDashboard");
    const r = await connection.invoke("Resume", Object.values(last));
    out({ c: spec.id, t: "resumed", r });
  }
  out({ c: spec.id, t: "ready" });
  return connection;
}

await runClients(config.clients, runClient, proxies.flat(), () => { stopping = true; });
