#!/usr/bin/env python3
"""Third-party Binance client libraries against `minerva exchange`, pointed at it the
way one points them at Binance's spot testnet: binance-connector (Binance's own
Python connector), ccxt, websocket-client and websockets. Run by
tests/client_libraries.rs with the exchange's address (started with --clock wall,
since these libraries sign with the machine's clock):

    python3 tests/clients/binance_libraries.py 127.0.0.1:PORT

Exits non-zero, naming the check, on the first failure.
"""
import asyncio
import json
import sys
import time

KEY, SECRET = "minerva-paper", "minerva-paper-secret"


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def connector(base):
    from binance.error import ClientError
    from binance.spot import Spot

    c = Spot(api_key=KEY, api_secret=SECRET, base_url=base)
    t = c.time()["serverTime"]
    check(abs(t - time.time() * 1000) < 5000, "connector: time is the wall clock")
    info = c.exchange_info(symbol="BTCUSDT")["symbols"][0]
    check(info["baseAsset"] == "BTC" and info["quoteAsset"] == "USDT", "connector: exchangeInfo assets")
    book = c.depth("BTCUSDT", limit=5)
    check(len(book["bids"]) == 5 and book["lastUpdateId"] > 0, "connector: depth")
    o = c.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                    quantity=0.001, price=50000, newClientOrderId="conn-1")
    check(o["status"] == "NEW" and o["clientOrderId"] == "conn-1", "connector: limit order rests")
    check(any(x["clientOrderId"] == "conn-1" for x in c.get_open_orders(symbol="BTCUSDT")),
          "connector: open orders")
    check(c.cancel_order(symbol="BTCUSDT", origClientOrderId="conn-1")["status"] == "CANCELED",
          "connector: cancel")
    try:
        c.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                    quantity=0.001, price=50000, newClientOrderId="x" * 37)
        check(False, "connector: a 37-character client id is refused")
    except ClientError as e:
        check(e.error_code == -1100, "connector: a 37-character client id is refused (-1100)")
    try:
        c.new_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity=5)
        check(False, "connector: selling what is not held is refused")
    except ClientError as e:
        check(e.error_code == -2010, "connector: selling what is not held is refused (-2010)")
    lk = c.new_listen_key()["listenKey"]
    check(len(lk) == 60 and c.renew_listen_key(lk) == {}, "connector: listen key and keepalive")
    return c, lk


def ccxt_binance(base):
    import ccxt

    ex = ccxt.binance({
        "apiKey": KEY,
        "secret": SECRET,
        # Spot only: no margin or currency endpoints (not served).
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                    "fetchMargins": False},
    })
    for k in ("public", "private", "v3"):
        ex.urls["api"][k] = base + "/api/v3"
    markets = ex.load_markets()
    check("BTC/USDT" in markets, "ccxt: load_markets finds BTC/USDT")
    check(markets["BTC/USDT"]["precision"]["price"] == 0.01, "ccxt: price precision from the grid")
    ob = ex.fetch_order_book("BTC/USDT", 5)
    check(ob["bids"][0][0] < ob["asks"][0][0], "ccxt: order book")
    o = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "ccxt-1"})
    check(o["status"] == "open" and o["clientOrderId"] == "ccxt-1", "ccxt: create_order")
    check(ex.cancel_order(o["id"], "BTC/USDT")["status"] == "canceled", "ccxt: cancel_order")
    try:
        ex.create_order("BTC/USDT", "market", "sell", 5)
        check(False, "ccxt: InsufficientFunds")
    except ccxt.InsufficientFunds:
        check(True, "ccxt: selling what is not held raises InsufficientFunds")
    bal = ex.fetch_balance()
    check(bal["total"]["USDT"] > 0, "ccxt: fetch_balance")


def websocket_client(host, connector_client, listen_key):
    import websocket

    ws = websocket.create_connection(f"ws://{host}/ws", timeout=10)
    ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}))
    check(json.loads(ws.recv()) == {"result": None, "id": 1}, "websocket-client: SUBSCRIBE")
    m = json.loads(ws.recv())
    check(m.get("e") == "trade", "websocket-client: trades arrive after SUBSCRIBE")
    ws.ping("hi")
    t = time.time()
    while True:
        op, frame = ws.recv_data_frame(control_frame=True)
        if op == websocket.ABNF.OPCODE_PONG:
            break
    check(time.time() - t < 2, "websocket-client: pong on a busy session")
    ws.close()
    # The user data stream: an order's executionReport.
    user = websocket.create_connection(f"ws://{host}/ws/{listen_key}", timeout=10)
    connector_client.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                               quantity=0.001, price=50000, newClientOrderId="ws-1")
    ev = json.loads(user.recv())
    check(ev["e"] == "executionReport" and ev["c"] == "ws-1", "websocket-client: executionReport")
    connector_client.cancel_order(symbol="BTCUSDT", origClientOrderId="ws-1")
    user.close()


async def websockets_client(host):
    import websockets

    async with websockets.connect(f"ws://{host}/stream?streams=btcusdt@trade/btcusdt@depth@100ms",
                                  ping_interval=1, ping_timeout=2) as ws:
        seen = set()
        end = time.time() + 4
        while time.time() < end:
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            seen.add(m["stream"])
        check(seen == {"btcusdt@trade", "btcusdt@depth@100ms"},
              "websockets: combined streams, kept alive by its own pings")
        pong = await ws.ping()
        await asyncio.wait_for(pong, 2)
        check(True, "websockets: ping answered")


def main():
    host = sys.argv[1]
    base = f"http://{host}"
    c, lk = connector(base)
    ccxt_binance(base)
    websocket_client(host, c, lk)
    asyncio.run(websockets_client(host))
    print("all client library checks passed")


if __name__ == "__main__":
    main()
