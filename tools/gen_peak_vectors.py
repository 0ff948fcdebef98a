#!/usr/bin/env python3
"""Test vectors for Minerva's peak finder, from scipy.signal.find_peaks.

Writes JSON lines {"y":[...], "height":..., "threshold":..., "distance":..., "prominence":...,
"wlen":..., "peaks":[...], "tie_sensitive": bool} where each condition is absent, a number
(minimum) or [min, max] (either may be null), exactly as `minerva peaks` reads them, and
"peaks" is what SciPy returned.

SciPy's distance filter orders peaks with np.argsort(heights), numpy's default unstable
sort; with equal heights the order, and so the result, depends on numpy's build and CPU
(AVX-512 builds differ from others even for 4 elements). For every vector the script also
runs the distance step with a *stable* argsort; when that changes the answer the vector is
marked "tie_sensitive" and carries "peaks_stable" too. Minerva implements the stable order.

Usage: pip install scipy; python3 tools/gen_peak_vectors.py [--n 3000] [--seed 1] > tests/fixtures/peak_vectors.jsonl
"""
import argparse
import json
import math
import random

import numpy as np
from scipy.signal import find_peaks


def stable_distance(peaks, heights, distance):
    d = math.ceil(distance)
    keep = np.ones(len(peaks), dtype=bool)
    order = np.argsort(heights, kind="stable")
    for i in range(len(peaks) - 1, -1, -1):
        j = order[i]
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < d:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < len(peaks) and peaks[k] - peaks[j] < d:
            keep[k] = False
            k += 1
    return keep


def signal(rng, n):
    kind = rng.random()
    if kind < 0.3:  # integers with ties and plateaus (like binned lots)
        return [float(rng.randint(0, 6)) for _ in range(n)]
    if kind < 0.5:  # plateaus of random width
        out = []
        while len(out) < n:
            out += [float(rng.randint(0, 20))] * rng.randint(1, 5)
        return out[:n]
    if kind < 0.8:  # continuous noise
        return [round(rng.gauss(0, 10), 3) for _ in range(n)]
    # smooth waves plus noise, with negative values
    a, f = rng.uniform(1, 50), rng.uniform(0.1, 1.5)
    return [round(a * math.sin(f * i) + rng.gauss(0, 3), 2) for i in range(n)]


def condition(rng, ys, spread):
    r = rng.random()
    if r < 0.45:
        return None
    lo = rng.uniform(-spread, spread)
    if r < 0.75:
        return round(lo, 2)
    hi = lo + rng.uniform(0, 2 * spread)
    pair = [round(lo, 2), round(hi, 2)]
    if rng.random() < 0.2:
        pair[rng.randint(0, 1)] = None
    return pair


def kwargs_of(v):
    kw = {}
    for k in ("height", "threshold", "prominence"):
        c = v.get(k)
        if c is not None:
            kw[k] = tuple(c) if isinstance(c, list) else c
    if v.get("distance") is not None:
        kw["distance"] = v["distance"]
    if v.get("wlen") is not None:
        kw["wlen"] = v["wlen"]
    return kw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    for _ in range(a.n):
        n = rng.choice([0, 1, 2, 3, 5, 8, 13, 21, 40, 64, 100])
        ys = signal(rng, n)
        spread = (max(ys) - min(ys)) if ys else 1.0
        v = {"y": ys}
        for k in ("height", "threshold", "prominence"):
            c = condition(rng, ys, spread / 2 if k != "height" else spread)
            if c is not None:
                v[k] = c
        if rng.random() < 0.5:
            v["distance"] = rng.choice([1, 1.5, 2, 3, 4.2, 7, 15])
        if "prominence" in v and rng.random() < 0.3:
            v["wlen"] = rng.choice([2, 3, 5, 8, 20])
        x = np.asarray(ys, dtype=float)
        kw = kwargs_of(v)
        peaks, _ = find_peaks(x, **kw)
        v["peaks"] = [int(p) for p in peaks]
        # Same filters, distance with a stable order.
        tie = False
        if "distance" in kw:
            pre_kw = {k: w for k, w in kw.items() if k not in ("distance", "prominence", "wlen")}
            pre, _ = find_peaks(x, **pre_kw)
            keep = stable_distance(pre, x[pre], kw["distance"])
            stable = pre[keep]
            if "prominence" in kw:
                from scipy.signal import peak_prominences
                prom = peak_prominences(x, stable, wlen=kw.get("wlen"))[0] if len(stable) else np.array([])
                lo, hi = kw["prominence"] if isinstance(kw["prominence"], tuple) else (kw["prominence"], None)
                sel = np.ones(len(stable), dtype=bool)
                if lo is not None:
                    sel &= lo <= prom
                if hi is not None:
                    sel &= prom <= hi
                stable = stable[sel]
            if list(stable) != list(peaks):
                tie = True
                v["peaks_stable"] = [int(p) for p in stable]
        v["tie_sensitive"] = tie
        print(json.dumps(v, separators=(",", ":")))


if __name__ == "__main__":
    main()
