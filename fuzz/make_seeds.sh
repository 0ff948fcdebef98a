#!/usr/bin/env bash
# Builds the fuzz seed corpora fuzz/seeds/<target>/ from the recorded data in
# ../shared/data (override with DATA=/path/to/data). Needs bash and python3 (stdlib).
#
# Licences: seeds are taken ONLY from hftbacktest-examples (MIT) and cryptofeed-sample
# (cryptofeed licence, attribution); see seeds/NOTICE.md. Nothing is taken from
# nautilus-binance-fixtures (LGPL). The few hand-written seeds (markPriceUpdate,
# decimal strings, malformed shapes) are written here, not copied from anywhere.
#
# Usage: fuzz/make_seeds.sh            (rewrites fuzz/seeds/<target>/*, keeps NOTICE.md)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${DATA:-$HERE/../../shared/data}"
OUT="$HERE/seeds"
[ -d "$DATA/hftbacktest-examples" ] && [ -d "$DATA/cryptofeed-sample" ] || {
    echo "make_seeds.sh: recorded data not found at $DATA (set DATA=...)" >&2
    exit 1
}
for t in decode decode_differential decimal snapshot exchange_info replay_line kucoin_differential kucoin_rest; do
    rm -rf "${OUT:?}/$t"
    mkdir -p "$OUT/$t"
done

python3 - "$DATA" "$OUT" <<'PY'
import gzip, json, os, sys

data, out = sys.argv[1], sys.argv[2]
hft = os.path.join(data, "hftbacktest-examples")
cf = os.path.join(data, "cryptofeed-sample")

def dumps(obj):
    # Compact like Binance; strings and key order are kept exactly.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

def put(target, name, text):
    path = os.path.join(out, target, name)
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(path, mode) as f:
        f.write(text)

def trim_snapshot(obj, n):
    obj = dict(obj)
    obj["bids"] = obj["bids"][:n]
    obj["asks"] = obj["asks"][:n]
    return obj

def kind(msg):
    """Message kind of a decoded frame (envelope or bare)."""
    d = msg.get("data", msg)
    if "lastUpdateId" in d:
        return "snapshot"
    if "e" in d:
        return d["e"]
    if "u" in d and "B" in d:
        return "bookTicker"
    return None

# ---- hftbacktest: '<local_ts> <json>' lines, gzip -------------------------------
def hft_lines(rel, limit=3000):
    with gzip.open(os.path.join(hft, rel), "rt") as f:
        for i, line in enumerate(f):
            if i >= limit:
                return
            ts, _, js = line.rstrip("\n").partition(" ")
            yield ts, js

def hft_pick(rel, tag, session_depths=3):
    """One line per kind (snapshot trimmed), the raw recorded lines, and a small
    session: the trimmed snapshot followed by the next depth updates."""
    first, raw, session, before, after = {}, [], [], [], 0
    for ts, js in hft_lines(rel):
        msg = json.loads(js)
        k = kind(msg)
        if k == "snapshot":
            js = dumps(trim_snapshot(msg, 8))
            # Depth diffs recorded before the snapshot wait in the book's buffer.
            session = before[-2:] + [js]
            after = session_depths
        elif k == "depthUpdate" and after > 0:
            session.append(js)
            after -= 1
        elif k == "depthUpdate" and not session:
            before.append(js)
        if k and k not in first:
            first[k] = js
            raw.append(f"{ts} {js}")
    for k, js in first.items():
        for t in ("decode", "decode_differential"):
            put(t, f"{tag}_{k}.json", js)
        if k == "snapshot":
            put("snapshot", f"{tag}.json", js)
    if session:
        put("decode", f"{tag}_session.jsonl", "\n".join(session) + "\n")
    put("replay_line", f"{tag}_lines.txt", "\n".join(raw) + "\n")
    return raw

hft_pick("spot/btcusdt_20240808.gz", "hft_spot_btcusdt")
hft_pick("usdm/ethusdt_20240808.gz", "hft_usdm_ethusdt")
hft_pick("usdm/btcusdt_20240718.gz", "hft_usdm_btcusdt")
raw23 = hft_pick("spot/btcusdt_20230405.dat.gz", "hft_spot_btcusdt_2023")  # trade with b/a, µs
for i, line in enumerate(raw23[:2]):
    put("replay_line", f"hft_spot_2023_line{i}.txt", line + "\n")
# A gzip file as input (LineReader detects the magic bytes).
put("replay_line", "hft_spot_2023_lines.gz",
    gzip.compress(("\n".join(raw23) + "\n").encode(), mtime=0))

# ---- cryptofeed: '<s>: <json>' WS lines and '<url> -> <s>: <json>' REST lines --
def cf_ws(name):
    with open(os.path.join(cf, name)) as f:
        for line in f:
            line = line.rstrip("\n")
            ts, sep, js = line.partition(": ")
            if sep and js.startswith("{"):
                yield ts, js, line

def cf_rest(name):
    with open(os.path.join(cf, name)) as f:
        for line in f:
            line = line.rstrip("\n")
            head, sep, js = line.partition(": {")
            if sep:
                yield head, "{" + js, line

def cf_pick(exch, tag, symbol):
    first, raw = {}, []
    for ts, js, line in cf_ws(f"{exch}.ws.1.0"):
        msg = json.loads(js)
        k = kind(msg)
        if k and k not in first and msg["data"].get("s") == symbol:
            first[k] = js
            raw.append(line)
    for k, js in first.items():
        for t in ("decode", "decode_differential"):
            put(t, f"{tag}_{k}.json", js)
    # The symbol's REST snapshot (trimmed) and a session: snapshot + next depth diffs.
    snap = None
    for head, js, line in cf_rest(f"{exch}.http.0.0"):
        if f"symbol={symbol}&" in head:
            snap = dumps(trim_snapshot(json.loads(js), 8))
            raw.append(f"{head}: {snap}")
    put("snapshot", f"{tag}.json", snap)
    for t in ("decode", "decode_differential"):
        put(t, f"{tag}_snapshot.json", snap)
    session, n = [snap], 0
    last_id = json.loads(snap)["lastUpdateId"]
    for ts, js, line in cf_ws(f"{exch}.ws.1.0"):
        d = json.loads(js)["data"]
        if d.get("e") == "depthUpdate" and d.get("s") == symbol and d["u"] >= last_id:
            session.append(js)
            n += 1
            if n == 6:
                break
    put("decode", f"{tag}_session.jsonl", "\n".join(session) + "\n")
    # Header lines of the capture (URL '<->' line, 'configuration:' line).
    with open(os.path.join(cf, f"{exch}.ws.1.0")) as f:
        hdr = f.readline().rstrip("\n")
    raw.insert(0, hdr[:300])
    with open(os.path.join(cf, f"{exch}.0")) as f:
        f.readline()
        cfg = f.readline().rstrip("\n")
    if cfg:
        raw.append(cfg)
    put("replay_line", f"{tag}_lines.txt", "\n".join(raw) + "\n")
    for i, line in enumerate(raw[:3]):
        put("replay_line", f"{tag}_line{i}.txt", line)

cf_pick("BINANCE", "cf_spot_nknusdt", "NKNUSDT")
cf_pick("BINANCE_FUTURES", "cf_usdm_sushiusdt", "SUSHIUSDT")
cf_pick("BINANCE_DELIVERY", "cf_coinm_bchusd_perp", "BCHUSD_PERP")
cf_pick("BINANCE_US", "cf_us_compusdt", "COMPUSDT")

# ---- exchangeInfo, trimmed to a few symbols -----------------------------------
def exinfo(exch, tag, keep):
    head, js, _ = next(cf_rest(f"{exch}.0"))
    obj = json.loads(js)
    obj["symbols"] = [s for s in obj["symbols"] if s["symbol"] in keep]
    if "assets" in obj:
        obj["assets"] = obj["assets"][:2]
    text = dumps(obj)
    put("exchange_info", f"{tag}.json", text)
    put("replay_line", f"{tag}_rest_line.txt", f"{head}: {text}\n")

exinfo("BINANCE", "cf_spot", {"BTCUSDT", "NKNUSDT", "BLZETH"})
exinfo("BINANCE_FUTURES", "cf_usdm", {"ETHUSDT", "SUSHIUSDT", "CTKUSDT"})
exinfo("BINANCE_DELIVERY", "cf_coinm", {"BCHUSD_PERP", "BCHUSD_210924"})
exinfo("BINANCE_US", "cf_us", {"COMPUSDT", "OMGBUSD"})

# ---- hand-written seeds (no third-party text) ---------------------------------
mark = ('{"stream":"ethusdt@markPrice","data":{"e":"markPriceUpdate","E":1723161256000,'
        '"s":"ETHUSDT","p":"2612.34000000","i":"2611.90123456","P":"2613.00000000",'
        '"r":"-0.00010000","T":1723190400000}}')
unknown = '{"stream":"ethusdt@ticker","data":{"e":"24hrTicker","E":1,"s":"ETHUSDT"}}'
reply = '{"result":null,"id":1}'
escaped = ('{"stream":"ethusdt@trade","data":{"e":"tr\\u0061de","E":1,"T":1,"s":"ETHUSDT",'
           '"t":7,"p":"2600.10","q":"0.500","m":false}}')
for t in ("decode", "decode_differential"):
    put(t, "synthetic_markprice.json", mark)
    put(t, "synthetic_unknown_type.json", unknown)
    put(t, "synthetic_subscribe_reply.json", reply)
    put(t, "synthetic_escaped_type.json", escaped)

# Boundary seeds: values just inside the i64 / u64 limits, one mutation away from them.
# Prices of 4e16 are 4e18 ticks on a 0.01 grid (two of them still add up inside i64).
near_px = ('{"lastUpdateId":18446744073709551614,"bids":[["40000000000000000.00","1.00000000"]],'
           '"asks":[["40000000000000000.01","1.00000000"]]}')
big_qty = ('{"lastUpdateId":600859605926,"E":1,"T":1,"bids":[["7.611","4000000000000000000"],'
           '["7.610","4000000000000000000"]],"asks":[["7.612","4000000000000000000"]]}')
put("snapshot", "synthetic_near_i64_prices.json", near_px)
put("snapshot", "synthetic_big_qty.json", big_qty)
near_session = "\n".join([
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":102,'
    '"b":[["40000000000000000.00","2.00000000"]],"a":[["40000000000000000.09","1.00000000"]]}}',
    '{"lastUpdateId":100,"bids":[["40000000000000000.00","1.00000000"]],'
    '"asks":[["40000000000000000.01","1.00000000"]]}',
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":103,"u":103,'
    '"b":[["39999999999999990.00","3.00000000"]],"a":[["40000000000000000.01","0.00000000"]]}}',
    '{"stream":"sushiusdt@depth@100ms","data":{"e":"depthUpdate","E":3,"T":3,"s":"SUSHIUSDT",'
    '"U":18446744073709551614,"u":18446744073709551614,"pu":18446744073709551613,'
    '"b":[["7.611","4000000000000000000"]],"a":[]}}',
    '{"stream":"sushiusdt@bookTicker","data":{"e":"bookTicker","u":18446744073709551614,"s":"SUSHIUSDT",'
    '"b":"7.611","B":"4000000000000000000","a":"7.612","A":"1","T":3,"E":3}}',
])
put("decode", "synthetic_near_limits_session.jsonl", near_session + "\n")
put("decode_differential", "synthetic_u64_max_ids.json",
    '{"e":"trade","E":18446744073709551615,"T":18446744073709551615,"s":"ETHUSDT",'
    '"t":18446744073709551615,"p":"92233720368547758.07","q":"9223372036854775.807","m":true}')

# ---- KuCoin (cryptofeed capture, files named cf_kucoin_*): one frame per kind and
# ---- topic, a level-2 snapshot cut to 8 levels, the symbol list cut to 3 symbols --
kc = os.path.join(data, "kucoin-sample")
seen = set()
with open(os.path.join(kc, "KUCOIN.ws.1.0")) as f:
    for line in f:
        if not line[:1].isdigit():
            continue
        msg = line.split(": ", 1)[1].rstrip("\n")
        m = json.loads(msg)
        kind = (m.get("type"), m.get("subject"))
        if m.get("subject") == "trade.l2update":
            ch = m["data"]["changes"]
            kind += ("zero" if any(c[0] == "0" for c in ch["asks"] + ch["bids"]) else "level",)
        if kind in seen:
            continue
        seen.add(kind)
        name = "cf_kucoin_" + "_".join(str(k) for k in kind if k).replace(".", "_") + ".json"
        put("kucoin_differential", name, msg)
with open(os.path.join(kc, "KUCOIN.http.0.0")) as f:
    for line in f:
        if " -> " not in line:
            continue
        url, rest = line.split(" -> ", 1)
        obj = json.loads(rest.split(": ", 1)[1])
        obj["data"] = trim_snapshot(obj["data"], 8)
        sym = url.split("symbol=")[1].strip()
        put("kucoin_rest", f"cf_kucoin_snapshot_{sym}.json", dumps(obj))
with open(os.path.join(kc, "KUCOIN.0")) as f:
    for line in f:
        if " -> " in line:
            obj = json.loads(line.split(" -> ", 1)[1].split(": ", 1)[1])
            obj["data"] = obj["data"][:3]
            put("kucoin_rest", "cf_kucoin_symbols.json", dumps(obj))
put("kucoin_differential", "synthetic_kucoin_futures_level2.json",
    '{"type":"message","topic":"/contractMarket/level2:XBTUSDTM","subject":"level2","sn":1709400450243,'
    '"data":{"sequence":1709400450243,"change":"90631.2,sell,2","timestamp":1731897467182}}')
put("kucoin_differential", "synthetic_kucoin_futures_execution.json",
    '{"type":"message","topic":"/contractMarket/execution:XBTUSDTM","subject":"match","sn":1697,'
    '"data":{"symbol":"XBTUSDTM","sequence":1697,"side":"buy","size":12,"price":"67123.5",'
    '"tradeId":"c","ts":1731898619520000000}}')
# Unified-account pushes (protocol notes §5), after KuCoin's documented examples with
# the capture's symbols and grids: obu deltas (spot; futures with RPI sizes and the keys
# in another order), an obu snapshot, trades, and a ticker (skipped: its a/b are prices).
put("kucoin_differential", "synthetic_kucoin_obu_spot_delta.json",
    '{"T":"obu.SPOT","dp":"increment@10ms","t":"delta","P":1781672136338555550,"d":{"C":1613277183899,'
    '"M":1781672136333000000,"O":1613277183894,"a":[],"b":[["242.649","0"],["242.646","0.68148185"],'
    '["242.7","5"]],"s":"BCHSV-USDT"}}')
put("kucoin_differential", "synthetic_kucoin_obu_futures_delta_rpi.json",
    '{"t":"delta","T":"obu.FUTURES","d":{"O":1731931329201,"b":[["88862.4","891","0"]],'
    '"M":1767323800296000000,"s":"XBTUSDTM","a":[["88862.5","1645","0"],["88862.6","0"]],'
    '"C":1731931329209},"P":1767323800305802104,"dp":"increment@10ms"}')
obu_snapshot = ('{"T":"obu.SPOT","dp":"increment@10ms","t":"snapshot","P":1768217874990007701,'
    '"d":{"C":1613277183892,"M":1768217874986000000,"O":1613277183892,"a":[["242.951","4.51280965"]],'
    '"b":[["242.649","5"]],"s":"BCHSV-USDT"}}')
put("kucoin_differential", "synthetic_kucoin_obu_spot_snapshot.json", obu_snapshot)
put("kucoin_rest", "synthetic_kucoin_obu_spot_snapshot.json", obu_snapshot)
put("kucoin_differential", "synthetic_kucoin_trade_spot.json",
    '{"T":"trade.SPOT","P":1768802538491160904,"d":{"E":20631804219899904,"M":1768802538480000000,'
    '"S":"sell","p":"242.5","q":"0.00008036","s":"BCHSV-USDT","ti":"20631804219899904"}}')
put("kucoin_differential", "synthetic_kucoin_trade_futures.json",
    '{"T":"trade.FUTURES","P":1768218157098477768,"d":{"p":"90551.8","q":"12","s":"XBTUSDTM",'
    '"S":"buy","E":1905973690439,"ti":"1905973690439","rpi":false,"M":1768218157097000000}}')
put("kucoin_differential", "synthetic_kucoin_ticker_spot.json",
    '{"T":"ticker.SPOT","P":1768206966101166007,"d":{"A":"0.97675941","B":"0.02052839","E":25958853459,'
    '"M":1768206966096000000,"S":"BUY","a":"242.7","b":"242.6","l":"242.7","q":"0.00109929",'
    '"s":"BCHSV-USDT"}}')
put("kucoin_rest", "synthetic_kucoin_contracts.json",
    '{"code":"200000","data":[{"symbol":"XBTUSDTM","maxOrderQty":1000000,"lotSize":1,"tickSize":0.1,'
    '"multiplier":0.001,"isInverse":false,"status":"Open"},{"symbol":"XBTUSDM","lotSize":1,"tickSize":0.1,'
    '"multiplier":-1,"isInverse":true,"status":"Open"},{"symbol":"SHIBUSDTM","lotSize":1,'
    '"tickSize":1.0E-9,"multiplier":10,"isInverse":false}]}')
put("kucoin_rest", "synthetic_kucoin_futures_snapshot.json",
    '{"code":"200000","data":{"sequence":1709400450243,"symbol":"XBTUSDTM",'
    '"bids":[[90631.1,12],[90631,3]],"asks":[[90631.2,2]],"ts":1731897467182000000}}')

# decimal: byte 0 = scale (% 19), then the text; 'spec value' exercises the grids.
dec = [
    (8, "61837.63000000"), (2, "61837.63000000"), (1, "63947.40"), (8, "0.01763000"),
    (3, "0.000"), (0, "297"), (3, "297"), (2, "0.001"), (18, "0.000000000000000001"),
    (2, "92233720368547758.07"), (2, "92233720368547758.08"), (0, "99999999999999999999"),
    (8, "-0.00010000"), (4, "0.0001 0.3528"), (2, "0.01 61837.63000000"),
    (3, "0.5 10.5"), (8, "0.00001000 25.42618900"), (1, "1e5"), (2, "1.2.3"), (2, ".5"),
    # As the decoders meet them, up to the closing quote (read_quoted).
    (2, '59961.00","0.050"]]'), (8, '61837.63000000"]'), (3, '0.000"'), (2, '1.20"x'),
    (2, '123456789012345678"'), (2, '1."'),
]
for i, (scale, text) in enumerate(dec):
    put("decimal", f"synthetic_{i:02}.bin", bytes([scale]) + text.encode())
PY

echo "seeds written to $OUT:"
for t in decode decode_differential decimal snapshot exchange_info replay_line kucoin_differential kucoin_rest; do
    printf '  %-20s %3d files %6d bytes\n' "$t" "$(ls "$OUT/$t" | wc -l)" "$(cat "$OUT/$t"/* | wc -c)"
done
du -sh "$OUT"
