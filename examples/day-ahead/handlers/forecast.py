#!/usr/bin/env python3
"""Forecast a portfolio's output for every quarter-hour of the delivery day (gridflow-worker handler).

Input (stdin): run data, {"input": {...}}. Output (stdout): {"quarter_hours": N, "forecast_mw": [...]}.
The number of quarter-hours follows the market's time zone: 92 on the spring DST day, 100 in autumn.
"""
import datetime
import json
import math
import sys
import zoneinfo


def quarter_hours(day: str, zone: str) -> int:
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime.datetime.fromisoformat(day).replace(tzinfo=tz)
    end = (start + datetime.timedelta(days=1)).replace(tzinfo=tz)
    return int((end - start).total_seconds() // 900)


def main() -> None:
    data = json.load(sys.stdin)
    order = data["input"]
    n = quarter_hours(order["delivery_day"], order["time_zone"])
    capacity = float(order["capacity_mw"])
    seed = sum(map(ord, order["delivery_day"] + order["portfolio"]))
    forecast = [
        round(capacity * (0.45 + 0.35 * math.sin((i + seed) / 9.0) * math.cos(i / 31.0)), 2)
        for i in range(n)
    ]
    json.dump({"quarter_hours": n, "forecast_mw": forecast}, sys.stdout)


if __name__ == "__main__":
    main()
