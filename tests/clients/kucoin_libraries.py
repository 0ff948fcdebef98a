"""Third-party KuCoin clients against the local KuCoin venue (tests/client_libraries.rs).

ccxt's kucoin (REST, its own signer: signed snapshot, HF orders placed, queried,
listed, cancelled and filled, balances, an oversell refused) and ccxt.pro's kucoin
(bullet token, WebSocket session, signed full-depth snapshot, level-2 updates and
trades; the private order channel on a bullet-private token), and a bare
`websockets` client for the session protocol's edges (bad token, welcome, ping,
unknown topic); the unified account's public session on `/` (ccxt.pro's `uta`
order book on `obu` increment@10ms and trades, and a bare `websockets` client
keeping its own book from the snapshot and deltas). Usage: kucoin_libraries.py HOST:PORT
"""

import asyncio
import json
import sys
import urllib.request

import ccxt
import ccxt.pro
import websockets

KEYS = {
    "apiKey": "minerva-paper",
    "secret": "minerva-paper-secret",
    "password": "minerva-paper-passphrase",
}
# Spot only, no unified account, no fee tickers: what the local venue serves.
OPTIONS = {"uta": False, "fetchMarkets": {"types": ["spot"], "fetchTickersFees": False}}
SYMBOL_ID = "BCHSV-USDT"


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def pointed(ex, base):
    for k, v in list(ex.urls["api"].items()):
        if isinstance(v, str) and "kucoin.com" in v:
            ex.urls["api"][k] = base
    return ex


def sorted_book(ob):
    bids = [b[0] for b in ob["bids"]]
    asks = [a[0] for a in ob["asks"]]
    return bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]


def ccxt_rest(base):
    ex = pointed(ccxt.kucoin(dict(KEYS, options=OPTIONS)), base)
    ex.load_markets(False, {"marginables": False})
    sym = next(s for s in ex.symbols if ex.market(s)["id"] == SYMBOL_ID)
    full = ex.fetch_order_book(sym)  # signed: /api/v3/market/orderbook/level2
    check(len(full["bids"]) > 100 and sorted_book(full), "ccxt: signed full book, sorted, not crossed")
    check(isinstance(full["nonce"], int) and full["nonce"] > 0, "ccxt: the book's sequence")
    top = ex.fetch_order_book(sym, 20)  # public level2_20
    check(
        len(top["bids"]) == 20 and sorted_book(top) and top["nonce"] >= full["nonce"],
        "ccxt: public top 20, sorted, not behind the full book",
    )
    wrong = pointed(ccxt.kucoin(dict(KEYS, secret="not-the-secret", options=OPTIONS)), base)
    wrong.markets = ex.markets
    wrong.markets_by_id = ex.markets_by_id
    wrong.symbols = ex.symbols
    try:
        wrong.fetch_order_book(sym)
        check(False, "ccxt: a wrong secret is refused")
    except ccxt.AuthenticationError as e:
        # The passphrase is signed with the secret too, and checked before the
        # request's signature: KuCoin's 400004.
        check("400004" in str(e), "ccxt: a wrong secret is refused (400004)")
    return sym


async def ccxt_pro(base, sym):
    ex = pointed(ccxt.pro.kucoin(dict(KEYS, options=OPTIONS)), base)
    try:
        await ex.load_markets(False, {"marginables": False})
        last = 0
        for _ in range(150):
            ob = await ex.watch_order_book(sym)
            check_quiet = sorted_book(ob) and ob["nonce"] >= last
            if not check_quiet:
                check(False, f"ccxt.pro: book sorted and sequence rising ({ob['nonce']} after {last})")
            last = ob["nonce"]
        check(True, "ccxt.pro: 150 level-2 updates, book sorted, sequence rising")
        trades = await ex.watch_trades(sym)
        check(len(trades) >= 1 and trades[-1]["price"] > 0, "ccxt.pro: trades")
    finally:
        await ex.close()


async def raw_session(host):
    try:
        async with websockets.connect(f"ws://{host}/endpoint?token=forged&connectId=x"):
            check(False, "a forged token is refused")
    except websockets.exceptions.InvalidStatus as e:
        check(e.response.status_code == 401, "a forged token is refused (401)")
    req = urllib.request.Request(f"http://{host}/api/v1/bullet-public", method="POST", data=b"")
    bullet = json.load(urllib.request.urlopen(req))["data"]
    server = bullet["instanceServers"][0]
    check(server["pingInterval"] == 18000, "the bullet states the ping interval")
    url = f"{server['endpoint']}?token={bullet['token']}&connectId=abc123"
    async with websockets.connect(url) as ws:
        welcome = json.loads(await ws.recv())
        check(welcome == {"id": "abc123", "type": "welcome"}, "welcome with the connectId")
        await ws.send(json.dumps({"id": "p1", "type": "ping"}))
        pong = json.loads(await ws.recv())
        check(pong["type"] == "pong" and pong["id"] == "p1", "ping answered by pong")
        await ws.send(json.dumps({"id": "s1", "type": "subscribe", "topic": "/market/level2:NOPE-USDT", "response": True}))
        err = json.loads(await ws.recv())
        check(err["type"] == "error" and err["code"] == 404, "an unknown topic is refused (404)")
        await ws.send(json.dumps({"id": 7, "type": "subscribe", "topic": f"/market/match:{SYMBOL_ID}", "response": True}))
        while True:
            m = json.loads(await ws.recv())
            if m.get("type") == "ack":
                check(m["id"] == "7", "subscription acknowledged")
                break


def ccxt_trading(base, sym):
    ex = pointed(ccxt.kucoin(dict(KEYS, options=OPTIONS)), base)
    ex.load_markets(False, {"marginables": False})
    bid = ex.fetch_order_book(sym, 20)["bids"][0][0]
    resting = ex.create_order(sym, "limit", "buy", 0.5, round(bid * 0.9, 3), {"postOnly": True})
    got = ex.fetch_order(resting["id"], sym)
    check(got["status"] == "open" and got["amount"] == 0.5, "ccxt: a post-only buy rests (HF order)")
    check(any(o["id"] == resting["id"] for o in ex.fetch_open_orders(sym)), "ccxt: listed among the open orders")
    ex.cancel_order(resting["id"], sym)
    check(ex.fetch_order(resting["id"], sym)["status"] == "canceled", "ccxt: cancelled")
    bought = ex.create_order(sym, "market", "buy", 0.3)
    got = ex.fetch_order(bought["id"], sym)
    check(got["status"] == "closed" and got["filled"] == 0.3 and got["cost"] > 0, "ccxt: a market buy fills whole")
    total = ex.fetch_balance()["total"]
    base = ex.market(sym)["base"]
    check(abs(total[base] - 0.3) < 1e-9, f"ccxt: the balance holds the {base} bought")
    try:
        ex.create_order(sym, "market", "sell", 5.0)
        check(False, "ccxt: selling more than held is refused")
    except ccxt.InsufficientFunds:
        check(True, "ccxt: selling more than held is refused (200004)")
    return bought["id"]


async def ccxt_pro_orders(base, sym):
    ex = pointed(ccxt.pro.kucoin(dict(KEYS, options=OPTIONS)), base)
    try:
        await ex.load_markets(False, {"marginables": False})
        watch = asyncio.ensure_future(ex.watch_orders(sym))
        balance = asyncio.ensure_future(ex.watch_balance())
        await asyncio.sleep(1.0)
        placed = await ex.create_order(sym, "market", "sell", 0.1)
        orders = await asyncio.wait_for(watch, 10)
        check(any(o["id"] == placed["id"] for o in orders), "ccxt.pro: the private order channel reports the order")
        b = await asyncio.wait_for(balance, 10)
        check(ex.market(sym)["quote"] in b["total"], "ccxt.pro: the balance channel reports the quote")
    finally:
        await ex.close()


async def ccxt_pro_uta(base, host, sym):
    opts = dict(OPTIONS, watchOrderBook={"utaDepth": "increment@10ms"})
    ex = pointed(ccxt.pro.kucoin(dict(KEYS, options=opts)), base)
    ex.urls["api"]["ws"]["spot"] = f"ws://{host}/"
    try:
        await ex.load_markets(False, {"marginables": False})
        last = 0
        for _ in range(60):
            ob = await ex.watch_order_book(sym, None, {"uta": True})
            if not (sorted_book(ob) and ob["nonce"] >= last):
                check(False, f"ccxt.pro uta: book sorted and sequence rising ({ob['nonce']} after {last})")
            last = ob["nonce"]
        check(True, "ccxt.pro uta: 60 obu updates, book sorted, sequence rising")
        trades = await ex.watch_trades(sym, None, None, {"uta": True})
        check(len(trades) >= 1 and trades[-1]["price"] > 0, "ccxt.pro uta: trades")
    finally:
        await ex.close()


async def raw_uta(host):
    """The unified session by hand: binary frames, a snapshot then deltas over O..C."""
    async with websockets.connect(f"ws://{host}/") as ws:
        welcome = await ws.recv()
        check(isinstance(welcome, bytes), "uta: frames are binary")
        check(json.loads(welcome).get("message") == "welcome", "uta: welcome")
        await ws.send(json.dumps({"id": "p", "type": "ping"}))
        check(json.loads(await ws.recv())["type"] == "pong", "uta: ping answered")
        bad = {"id": "b", "action": "SUBSCRIBE", "channel": "obu", "tradeType": "SPOT",
               "symbol": "NOPE-USDT", "depth": "increment@10ms"}
        await ws.send(json.dumps(bad))
        m = json.loads(await ws.recv())
        check(m["id"] == "b" and m["result"] is False and m["reason"], "uta: an unknown symbol is refused")
        sub = dict(bad, id="s", symbol=SYMBOL_ID, rpiFilter=0)
        await ws.send(json.dumps(sub))
        check(json.loads(await ws.recv()) == {"id": "s", "result": True}, "uta: subscription answered")
        snap = json.loads(await ws.recv())
        check(snap["T"] == "obu.SPOT" and snap["t"] == "snapshot" and snap["d"]["O"] == snap["d"]["C"],
              "uta: the snapshot comes first")
        book = {"b": {p: q for p, q in snap["d"]["b"]}, "a": {p: q for p, q in snap["d"]["a"]}}
        seq = snap["d"]["C"]
        for _ in range(40):
            d = json.loads(await ws.recv())
            check(d["t"] == "delta", "uta: then deltas") if _ == 0 else None
            if d["d"]["C"] <= seq:
                continue
            if d["d"]["O"] != seq + 1:
                check(False, f"uta: deltas continue ({d['d']['O']} after {seq})")
            seq = d["d"]["C"]
            for side in ("b", "a"):
                for p, q in d["d"][side]:
                    if float(q) == 0:
                        book[side].pop(p, None)
                    else:
                        book[side][p] = q
        best_bid = max(float(p) for p in book["b"])
        best_ask = min(float(p) for p in book["a"])
        check(best_bid < best_ask and len(book["b"]) <= 500, "uta: 40 deltas continue the snapshot, book not crossed")


def main():
    host = sys.argv[1]
    base = f"http://{host}"
    asyncio.run(raw_session(host))
    sym = ccxt_rest(base)
    asyncio.run(ccxt_pro(base, sym))
    ccxt_trading(base, sym)
    asyncio.run(ccxt_pro_orders(base, sym))
    asyncio.run(raw_uta(host))
    asyncio.run(ccxt_pro_uta(base, host, sym))
    print("all kucoin client checks passed")


if __name__ == "__main__":
    main()
