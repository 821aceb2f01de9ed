// Example external subscriber of OrderFlow order events.
//
// It owns one durable JetStream consumer on the ORDERS stream, decodes each event by its
// `Orderflow-Schema` header with the generated protobuf-es bindings, handles it, and
// acknowledges it only after handling, so a crash redelivers instead of losing an event.
// Because the consumer is durable, a restarted subscriber continues where it stopped.
//
// Environment:
//   NATS_URL               server to connect to (default nats://127.0.0.1:4222)
//   ORDERFLOW_DURABLE      durable consumer name (default example-subscriber-ts); one per
//                          application, never a name the OrderFlow services use
//   ORDERFLOW_FILTER       subject filter (default orders.v1.>, every order event)
//   ORDERFLOW_EXIT_WHEN_IDLE_MS  if set, exit once no event arrived for that long
//                          (for tests and batch jobs; without it the subscriber runs
//                          until SIGINT/SIGTERM)
//
// Output: one JSON line per event on stdout (stream sequence, subject, schema and the
// event in the protobuf JSON mapping); replace `handle` with your own logic.

import { createRegistry, fromBinary, isMessage, toJson } from "@bufbuild/protobuf";
import type { Message } from "@bufbuild/protobuf";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JsMsg } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import {
  file_orderflow_orders_v1_events,
  OrderStatus,
  OrderStatusChangedSchema,
} from "./gen/orderflow/orders/v1/events_pb.js";

const STREAM = "ORDERS";
// Header names of the contract (proto-schemas/README.md, "Headers").
const SCHEMA_HEADER = "Orderflow-Schema";

const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const durable = process.env.ORDERFLOW_DURABLE ?? "example-subscriber-ts";
const filter = process.env.ORDERFLOW_FILTER ?? "orders.v1.>";
const exitWhenIdleMs = process.env.ORDERFLOW_EXIT_WHEN_IDLE_MS
  ? Number(process.env.ORDERFLOW_EXIT_WHEN_IDLE_MS)
  : undefined;

// Every message of the order events file, by full name: the value of `Orderflow-Schema`.
const registry = createRegistry(file_orderflow_orders_v1_events);

/** What this subscriber does with one decoded event: print it. */
function handle(msg: JsMsg, event: Message): void {
  const schema = registry.getMessage(event.$typeName)!;
  // Typed access: isMessage narrows `event` to the generated type.
  if (isMessage(event, OrderStatusChangedSchema)) {
    console.error(
      `order ${event.orderNumber}: ${OrderStatus[event.oldStatus]} -> ${OrderStatus[event.newStatus]}`,
    );
  }
  console.log(
    JSON.stringify({
      seq: msg.seq,
      subject: msg.subject,
      schema: event.$typeName,
      event: toJson(schema, event),
    }),
  );
}

const nc = await connect({ servers: natsUrl, name: durable });
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    stopping = true;
  });
}

// Create the durable consumer, or find it as configured (adding an identical config is a
// no-op). Explicit acks: the server redelivers what we did not ack within ack_wait.
const jsm = await jetstreamManager(nc);
await jsm.consumers.add(STREAM, {
  durable_name: durable,
  filter_subject: filter,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
});
const consumer = await jetstream(nc).consumers.get(STREAM, durable);

while (!stopping) {
  // Pull in batches; `expires` bounds the wait so the loop notices signals and idleness.
  const batch = await consumer.fetch({ max_messages: 100, expires: exitWhenIdleMs ?? 5000 });
  let received = 0;
  for await (const msg of batch) {
    received++;
    const schemaName = msg.headers?.get(SCHEMA_HEADER) ?? "";
    const schema = registry.getMessage(schemaName);
    if (schema === undefined) {
      // A schema we do not know is a newer event: skip it (ack, so it is not redelivered
      // forever) and log it.
      console.error(`skipping seq ${msg.seq}: unknown schema ${JSON.stringify(schemaName)}`);
      await msg.ackAck();
      continue;
    }
    // A payload that does not decode throws: the process stops without acking and the
    // event comes again after a restart; fix the bug rather than skip data.
    handle(msg, fromBinary(schema, msg.data));
    // ackAck waits for the server to confirm, so an exit right after loses no ack.
    await msg.ackAck();
  }
  if (received === 0 && exitWhenIdleMs !== undefined) {
    break;
  }
}

await nc.drain();
