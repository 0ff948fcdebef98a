#!/usr/bin/env python3
"""Opens a `minerva report` page in headless Chromium and reads its self-check.

Usage: tools/check_report.py REPORT.html [--screenshot OUT.png] [--chromium PATH]

The page writes a JSON self-check into <pre id="minerva-selfcheck"> once drawn:
every panel's canvas holds pixels, the operation markers and table rows are there,
and no error reached the console. This script loads the page with no network
(file://, background networking off), dumps the DOM, prints the check and exits 0
when it passed, 1 when it did not, 2 when Chromium is missing.
"""
import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
]


def chromium(path):
    for c in [path, os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]:
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--screenshot")
    ap.add_argument("--chromium")
    ap.add_argument("--size", default="1400,2900", help="window size for the screenshot")
    a = ap.parse_args()
    exe = chromium(a.chromium)
    if not exe:
        print("chromium not found", file=sys.stderr)
        return 2
    url = "file://" + os.path.abspath(a.report)
    with tempfile.TemporaryDirectory() as profile:
        base = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={a.size}"]
        out = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
        if a.screenshot:
            subprocess.run(base + [f"--screenshot={os.path.abspath(a.screenshot)}", url],
                           capture_output=True, text=True, timeout=180, check=True)
    m = re.search(r'<pre id="minerva-selfcheck">(.*?)</pre>', out.stdout, re.S)
    if not m or not m.group(1).strip():
        print("no self-check in the page (did its script run?)", file=sys.stderr)
        print(out.stderr[-2000:], file=sys.stderr)
        return 1
    check = json.loads(html.unescape(m.group(1)))
    print(json.dumps(check, indent=1))
    return 0 if check.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
