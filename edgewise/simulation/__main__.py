"""`python -m edgewise.simulation`: the Smart Limits simulation on a private sandbox; prints the figures.

Exit code 0 when the simulation ran, whatever the figures (as bench/run_bench.py), unless `--strict`:
then 1 when a goal is missed (a restriction, a write outside working hours, or under 90 % of the allowed
budget used).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from edgewise.simulation import SimulationConfig, private_sandbox, simulate
from edgewise.simulation.workload import DEFAULT_START


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgewise.simulation", description=__doc__)
    parser.add_argument("--identities", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--start", type=datetime.fromisoformat, default=DEFAULT_START, help="an aware ISO instant"
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.start.tzinfo is None:
        parser.error("--start needs an offset, e.g. 2027-03-01T00:00:00+00:00")
    config = SimulationConfig(identities=args.identities, days=args.days, start=args.start, seed=args.seed)
    print(f"simulating {config.identities} identities × {config.days} days …", flush=True)
    with private_sandbox(seed=args.seed) as sandbox:
        report = asyncio.run(simulate(config, sandbox))
    print("\n".join(report.lines()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
        print(f"  report written to {args.json}")
    return 1 if args.strict and not report.passed else 0


if __name__ == "__main__":
    sys.exit(main())
