#!/usr/bin/env python3
"""Turn the forecast into one bid per quarter-hour (gridflow-worker handler).

Output: {"bids": [{"qh": i, "volume_mw": v, "price_eur_mwh": p}, ...], "total_mwh": x}.
"""
import json
import sys


def main() -> None:
    data = json.load(sys.stdin)
    floor = float(data["input"]["price_floor_eur_mwh"])
    bids = []
    for i, mw in enumerate(data["forecast"]["forecast_mw"]):
        # Sell what we expect to produce, at a price that rises in the evening peak.
        peak = 1.0 if 68 <= i < 84 else 0.0
        bids.append({"qh": i, "volume_mw": mw, "price_eur_mwh": round(max(floor, 35.0 + 40.0 * peak - mw / 10.0), 2)})
    total = round(sum(b["volume_mw"] for b in bids) / 4.0, 2)
    json.dump({"bids": bids, "total_mwh": total}, sys.stdout)


if __name__ == "__main__":
    main()
