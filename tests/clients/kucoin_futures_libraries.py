"""Third-party KuCoin futures clients against the local KuCoin venue serving a linear
contract (tests/client_libraries.rs).

ccxt's kucoinfutures (REST, its own signer: the contract list, the book, an order
with leverage resting, listed, queried and cancelled; a market order filling; the
futures balance and the position; a reduce-only close; a reduce-only order with
nothing to reduce refused) and ccxt.pro's kucoinfutures (bullet token, WebSocket
session, the futures level-2 book from the snapshot and `/contractMarket/level2`
messages, and the private order, position and wallet channels). Usage:
kucoin_futures_libraries.py HOST:PORT CONTRACT
"""

import asyncio
import sys

import ccxt
import ccxt.pro

# The spot script's checks and its pointing of a client at the local venue.
import kucoin_libraries
from kucoin_libraries import check, pointed, sorted_book

# The spot script's keys, as a classic account (no unified account) with contracts
# only: what the local venue serves for a futures recording.
KEYS = dict(
    kucoin_libraries.KEYS,
    options={"uta": False, "fetchMarkets": {"types": ["swap"], "fetchTickersFees": False}},
)


def rest(base, contract):
    ex = pointed(ccxt.kucoinfutures(dict(KEYS)), base)
    ex.load_markets(False, {"marginables": False})
    sym = next(s for s in ex.symbols if ex.market(s)["id"] == contract)
    m = ex.market(sym)
    check(m["swap"] and m["linear"] and m["contractSize"] > 0, f"ccxt: {contract} is a linear swap")
    ob = ex.fetch_order_book(sym, 20)
    check(len(ob["bids"]) > 0 and sorted_book(ob), "ccxt: the futures book, sorted, not crossed")
    bid = ob["bids"][0][0]
    resting = ex.create_order(sym, "limit", "buy", 1000, round(bid * 0.9, 3),
                              {"leverage": 5, "marginMode": "isolated"})
    got = ex.fetch_order(resting["id"], sym)
    check(got["status"] == "open" and got["amount"] == 1000, "ccxt: a limit buy of 1000 contracts rests")
    check(any(o["id"] == resting["id"] for o in ex.fetch_open_orders(sym)), "ccxt: listed among the open orders")
    ex.cancel_order(resting["id"], sym)
    check(ex.fetch_order(resting["id"], sym)["status"] == "canceled", "ccxt: cancelled")
    bought = ex.create_order(sym, "market", "buy", 2000000, None, {"leverage": 5})
    got = ex.fetch_order(bought["id"], sym)
    check(got["status"] == "closed" and got["filled"] == 2000000, "ccxt: a market buy fills whole")
    positions = [p for p in ex.fetch_positions([sym]) if p["contracts"]]
    check(len(positions) == 1 and positions[0]["side"] == "long" and positions[0]["contracts"] == 2000000,
          "ccxt: the position holds the contracts bought")
    balance = ex.fetch_balance()
    check(balance["total"].get("USDT", 0) > 0, "ccxt: the futures balance (USDT)")
    closed = ex.create_order(sym, "market", "sell", 2000000, None, {"reduceOnly": True})
    check(ex.fetch_order(closed["id"], sym)["status"] == "closed", "ccxt: a reduce-only market sell closes it")
    try:
        ex.create_order(sym, "market", "sell", 1000, None, {"reduceOnly": True})
        check(False, "ccxt: a reduce-only sell with nothing to reduce is refused")
    except ccxt.BaseError as e:
        check("300009" in str(e), "ccxt: a reduce-only sell with nothing to reduce is refused (300009)")
    return sym


async def pro(base, sym):
    ex = pointed(ccxt.pro.kucoinfutures(dict(KEYS)), base)
    try:
        await ex.load_markets(False, {"marginables": False})
        last = 0
        for _ in range(100):
            ob = await ex.watch_order_book(sym)
            if not (sorted_book(ob) and ob["nonce"] >= last):
                check(False, f"ccxt.pro: book sorted and sequence rising ({ob['nonce']} after {last})")
            last = ob["nonce"]
        check(True, "ccxt.pro: 100 futures level-2 updates, book sorted, sequence rising")
        watch = asyncio.ensure_future(ex.watch_orders(sym))
        first = await ex.watch_position(sym)  # ccxt takes a REST snapshot first
        check(first is not None, "ccxt.pro: the position's snapshot")
        positions = asyncio.ensure_future(ex.watch_position(sym))
        balance = asyncio.ensure_future(ex.watch_balance())
        await asyncio.sleep(1.0)
        placed = await ex.create_order(sym, "market", "buy", 1000, None, {"leverage": 3})
        orders = await asyncio.wait_for(watch, 10)
        check(any(o["id"] == placed["id"] for o in orders), "ccxt.pro: the private order channel reports the order")
        p = await asyncio.wait_for(positions, 10)
        if not isinstance(p, dict):
            p = p[-1]  # ccxt hands a cache of the positions heard
        check(p["contracts"] == 1000 and p["side"] == "long", "ccxt.pro: the position channel reports the position")
        b = await asyncio.wait_for(balance, 10)
        check("USDT" in b["total"], "ccxt.pro: the wallet channel reports the balance")
    finally:
        await ex.close()


def main():
    host, contract = sys.argv[1], sys.argv[2]
    base = f"http://{host}"
    sym = rest(base, contract)
    asyncio.run(pro(base, sym))
    print("all kucoin futures client checks passed")


if __name__ == "__main__":
    main()
