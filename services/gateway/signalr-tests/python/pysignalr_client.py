"""pysignalr (PyPI) against the gateway, as a Python service would use it.

Run by tests/h-pysignalr.test.mjs, which passes everything in the environment and reads one JSON
line from stdout. The case is argv[1]:

  updates    negotiate (version 0: pysignalr sends no negotiateVersion), connect, then publish
             four status changes of this customer; prints the positions received.
  resume     the same client, in the protocol given, after a drop: connects with the hub URL's
             `resume=<position>` and prints what it received (the missed updates, then the
             `Resumed` result, then one live update).

argv[2] is the hub protocol: `json` or `messagepack`.
"""

import asyncio
import json
import os
import sys
import uuid

import aiohttp
from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

STEPS = [("Draft", "Confirmed"), ("Confirmed", "Processing"), ("Processing", "Shipped"), ("Shipped", "Delivered")]


async def publish(session, customer, order, old, new):
    body = {"kind": "status", "customerId": customer, "orderId": order, "orderNumber": "ORD-PY", "old": old, "new": new}
    async with session.post(os.environ["CONTROL_URL"] + "/publish", json=body) as response:
        response.raise_for_status()
        return (await response.json())["position"]


def protocol(name):
    return MessagepackProtocol() if name == "messagepack" else JSONProtocol()


async def run(case, protocol_name):
    jwt, customer = os.environ["PY_JWT"], os.environ["PY_CUSTOMER"]
    url = os.environ["PY_HUB_URL"]
    client = SignalRClient(url, protocol=protocol(protocol_name), headers={"Authorization": f"Bearer {jwt}"})
    got, resumed, opened = [], [], asyncio.Event()

    async def on_status(args):
        update = args[0]
        updated_at = update["updatedAt"]
        # MessagePack's timestamp extension arrives as msgpack.Timestamp; JSON's as RFC 3339 text.
        if hasattr(updated_at, "to_datetime"):
            updated_at = updated_at.to_datetime().isoformat()
        got.append({"position": update["position"], "newStatus": update["newStatus"], "updatedAt": updated_at})

    async def on_resumed(args):
        resumed.append(args[0])

    async def on_open():
        opened.set()

    client.on("OrderStatusChanged", on_status)
    client.on("Resumed", on_resumed)
    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        async with aiohttp.ClientSession() as session:
            order = str(uuid.uuid4())
            if case == "updates":
                sent = [await publish(session, customer, order, old, new) for old, new in STEPS]
                expected = 4
            else:
                sent = [await publish(session, customer, order, "Delivered", "Cancelled")]
                expected = int(os.environ["PY_MISSED"]) + 1
            for _ in range(200):
                if len(got) >= expected:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # anything extra would show up here
        print(json.dumps({"got": got, "sent": sent, "resumed": resumed}), flush=True)
    finally:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
