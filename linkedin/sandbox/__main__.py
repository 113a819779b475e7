"""`python -m linkedin.sandbox --host 127.0.0.1 --port 8100 --state-dir .data/sandbox [--seed 7]`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from linkedin.sandbox.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m linkedin.sandbox", description="Serve the LinkedIn sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8100")))
    parser.add_argument("--state-dir", type=Path, default=Path(".data/sandbox"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--accounts-scale", type=int, default=1, help="multiply the contract's account counts (tests)"
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "warning").lower())
    args = parser.parse_args(argv)
    # One process on purpose: the state mirror lives in memory. No access log: it costs throughput and
    # would print nothing a test needs.
    uvicorn.run(
        create_app(state_dir=args.state_dir, seed=args.seed, accounts_scale=args.accounts_scale),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
