#!/usr/bin/env python3
"""Backtest throughput of hftbacktest on the data Minerva's backtest bench reads.

Needs `pip install hftbacktest==2.4.4` (and numba, which it brings). Converts a
recorded USD-M session (hftbacktest collector format: `local_ns {"stream":..}` lines,
the REST snapshot as a bare line) or a synthetic file from
../shared/tools/gen_binance_synth.py (JSON lines + snapshot JSON) into hftbacktest's
event arrays, then runs a market-making strategy compiled with numba over them and
prints the wall time and throughput of the backtest proper (the second of two runs, so
numba's compilation is not counted):

    RESULT peer=hftbacktest data=NAME messages=M rows=R secs=S messages_per_s=X rows_per_s=Y

The strategy (comparable in kind to Minerva's oracle, which also reads 500 levels a
side on every depth update): on every feed event read 500 ticks of depth on each side
(ROI vector book), compute the ask share; when it is <= 0.25 quote a post-only buy at
the best bid, when >= 0.75 a post-only sell at the best ask (0.01 BTC), cancel quotes
older than 60 s, and lean out of a position with a post-only order at the touch.
Constant 5 ms order-entry and response latency, risk-averse queue model, no partial
fills, 0.02 % / 0.05 % fees: the options of `minerva backtest`'s defaults.

Side by side (`--minerva BIN`, default target/release/minerva when it is built): the
same files are built into a Minerva tape (`minerva tape build`) and backtested by
`minerva bench backtest` (the seed strategy loosened as benches/backtest.rs does, the
same latency and queue model) in the same sitting, and the medians are compared:

    RESULT compare data=NAME hftbacktest_secs=S minerva_tape_secs=S ratio=X
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from hftbacktest import BacktestAsset, ROIVectorMarketDepthBacktest
from hftbacktest.data.utils import binancefutures
from hftbacktest.order import GTX, LIMIT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@njit
def quote(hbt):
    asset = 0
    next_id = 1
    buy_id = 0
    sell_id = 0
    buy_t = 0
    sell_t = 0
    n = 0
    while True:
        r = hbt.wait_next_feed(True, 60_000_000_000)
        if r == 1:
            break
        n += 1
        depth = hbt.depth(asset)
        bb = depth.best_bid_tick
        ba = depth.best_ask_tick
        if bb <= 0 or ba <= bb:
            continue
        lb = depth.roi_lb_tick
        bids = depth.bid_depth
        asks = depth.ask_depth
        bid_v = 0.0
        ask_v = 0.0
        for k in range(500):
            i = bb - k - lb
            if 0 <= i < len(bids):
                bid_v += bids[i]
            j = ba + k - lb
            if 0 <= j < len(asks):
                ask_v += asks[j]
        if bid_v + ask_v <= 0.0:
            continue
        share = ask_v / (bid_v + ask_v)
        now = hbt.current_timestamp
        orders = hbt.orders(asset)
        if buy_id != 0 and not orders.__contains__(buy_id):
            buy_id = 0
        if sell_id != 0 and not orders.__contains__(sell_id):
            sell_id = 0
        if buy_id != 0 and now - buy_t > 60_000_000_000:
            hbt.cancel(asset, buy_id, False)
            buy_id = 0
        if sell_id != 0 and now - sell_t > 60_000_000_000:
            hbt.cancel(asset, sell_id, False)
            sell_id = 0
        pos = hbt.position(asset)
        if buy_id == 0 and (share <= 0.25 or pos < 0):
            hbt.submit_buy_order(asset, next_id, bb * depth.tick_size, 0.01, GTX, LIMIT, False)
            buy_id = next_id
            buy_t = now
            next_id += 1
        if sell_id == 0 and (share >= 0.75 or pos > 0):
            hbt.submit_sell_order(asset, next_id, ba * depth.tick_size, 0.01, GTX, LIMIT, False)
            sell_id = next_id
            sell_t = now
            next_id += 1
        hbt.clear_inactive_orders(asset)
    return n


def convert_synth(events, snapshot, out_dir):
    """Wraps the synthetic JSON lines as collector lines (local = E + 2 ms)."""
    raw = os.path.join(out_dir, "synth_raw.gz")
    with open(snapshot) as f:
        snap = json.load(f)
    with gzip.open(raw, "wt") as w, open(events) as r:
        first = True
        for line in r:
            d = json.loads(line)
            local = (d["E"] + 2) * 1_000_000
            if first:
                w.write(f"{local - 1} {json.dumps(snap, separators=(',', ':'))}\n")
                first = False
            stream = "btcusdt@depth@0ms" if d["e"] == "depthUpdate" else "btcusdt@" + d["e"].lower()
            w.write(f'{local} {{"stream":"{stream}","data":{line.strip()}}}\n')
    return [raw]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--raw", nargs="*", default=[], help="recorded USD-M files, in order")
    p.add_argument("--synth", nargs=2, metavar=("EVENTS", "SNAPSHOT"))
    p.add_argument("--name", default="data")
    p.add_argument("--runs", type=int, default=5, help="timed runs of each (after hftbacktest's compiling run)")
    p.add_argument("--minerva", default=os.path.join(ROOT, "target/release/minerva"),
                   help="Minerva's binary (skipped when it does not exist)")
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="hbtcmp")
    raws = a.raw if a.raw else convert_synth(a.synth[0], a.synth[1], tmp)
    messages = 0
    arrays = []
    for k, f in enumerate(raws):
        with gzip.open(f, "rt") as r:
            messages += sum(1 for _ in r)
        arrays.append(binancefutures.convert(f, combined_stream=True))
    data = np.concatenate(arrays)
    rows = len(data)
    # Minerva's passes run before and after hftbacktest's, so both see the machine alike.
    mine = None
    if os.path.exists(a.minerva):
        mine = minerva_passes(a, raws, tmp)
    else:
        print(f"NOTE: {a.minerva} not built: no side-by-side run", file=sys.stderr)
    times = []
    for run in range(a.runs + 1):
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_latency(5_000_000, 5_000_000)
            .risk_adverse_queue_model()
            .no_partial_fill_exchange()
            .trading_value_fee_model(0.0002, 0.0005)
            .tick_size(0.1)
            .lot_size(0.001)
            .roi_lb(0.0)
            .roi_ub(200_000.0)
        )
        hbt = ROIVectorMarketDepthBacktest([asset])
        t = time.perf_counter()
        feeds = quote(hbt)
        secs = time.perf_counter() - t
        hbt.close()
        print(f"run {run}: {secs:.3f} s, {feeds} feed wake-ups", file=sys.stderr)
        if run > 0:
            times.append(secs)
    times.sort()
    med = times[len(times) // 2]
    print(
        f"RESULT peer=hftbacktest data={a.name} messages={messages} rows={rows} "
        f"secs={med:.4f} min_secs={times[0]:.4f} messages_per_s={messages / med:.0f} rows_per_s={rows / med:.0f}"
    )
    if mine is None:
        return
    mine += minerva_passes(a, raws, tmp)
    mine.sort()
    m = mine[len(mine) // 2]
    print(f"RESULT peer=minerva-backtest data={a.name} input=tape passes={len(mine)} secs={m:.4f} min_secs={mine[0]:.4f}")
    print(f"RESULT compare data={a.name} hftbacktest_secs={med:.4f} minerva_tape_secs={m:.4f} ratio={med / m:.2f}")


def minerva_passes(a, raws, tmp):
    """Minerva's timed passes on the files' tape (built once), in one process."""
    tape = os.path.join(tmp, "data.tape")
    if not os.path.exists(tape):
        subprocess.run([a.minerva, "tape", "build", *raws, "--data-market", "usdm", "--out", tape],
                       check=True, stdout=sys.stderr, stderr=sys.stderr)
    out = subprocess.run(
        [a.minerva, "bench", "backtest", tape, "--strategy", os.path.join(ROOT, "strategy_0.toml"),
         "--short-pressure", "0.6", "--long-pressure", "0.4", "--max-concurrent-trades", "20",
         "--latency", "order=5ms,response=5ms", "--queue", "risk-averse",
         "--repeat", str(a.runs), "--name", a.name],
        check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    print(line, file=sys.stderr)
    return [float(x) for x in line.split(" passes_secs=")[1].split()[0].split(",")]


if __name__ == "__main__":
    main()
