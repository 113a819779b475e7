"""The Smart Limits simulation (issue 3, point 9): days × identities of async connect and message campaigns
at the `standard` defaults, the production permit policy on a virtual clock, the LinkedIn sandbox as judge.

    python -m edgewise.simulation [--identities 20] [--days 30] [--seed 7] [--json PATH]

Modules: workload (identities and campaigns), engine (the event loop over edgewise/permit_policy.py and the
sandbox), oracle (the allowed budget, from the contract's text), report (the judge's figures),
sandbox_server (a private sandbox). `simulate` runs one simulation against a sandbox URL.
"""

from __future__ import annotations

import httpx

from edgewise.simulation.engine import Simulation
from edgewise.simulation.report import SHARE_GOAL, Report, judge
from edgewise.simulation.sandbox_server import PrivateSandbox, private_sandbox
from edgewise.simulation.workload import SimulationConfig
from linkedin.http_adapter import close_pools

__all__ = ["SHARE_GOAL", "PrivateSandbox", "Report", "SimulationConfig", "private_sandbox", "simulate"]


async def simulate(config: SimulationConfig, sandbox: PrivateSandbox) -> Report:
    """Run `config` against `sandbox` (see `private_sandbox`: its clock and outboxes change)."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=60) as control:
        try:
            run = await Simulation(config, sandbox, control).run()
            return await judge(run, control)
        finally:
            await close_pools()
