#!/usr/bin/env python3
"""Confirm the exchange acknowledged the order (gridflow-worker handler)."""
import json
import sys


def main() -> None:
    data = json.load(sys.stdin)
    order = data["submit"]
    json.dump({"exchange_order_id": order["exchange_order_id"], "acknowledged": True,
               "quarter_hours": order["quarter_hours"]}, sys.stdout)


if __name__ == "__main__":
    main()
