"""Smart Limits over days, with LinkedIn as the judge (issue 3, point 9; README, Smart Limits › Simulation).

Async connect and message campaigns that ask more than the limits allow, at the `standard` defaults; the
production permit policy (edgewise/permit_policy.py) decides on a virtual clock, every granted write goes to
a private sandbox over real HTTP with the sandbox's clock at that instant, and the sandbox's tolerances
(API.md §9) restrict any account pushed too hard. Each test asserts, from what the sandbox saw:
- no account restricted or throttled, no write refused, and none outside its identity's working hours;
- no account got more invitations or messages than the contract allows it (the oracle's maximum) — a
  platform that did would be over its limits, or the yardstick wrong;
- at least 90 % of that allowance used: the limits, not the platform's pacing or bookkeeping, bound the work.

The default suite runs a short configuration (2 identities over 8 days: a new classic account ramping up, an
established Sales Navigator account whose weekly window — 150, LinkedIn's own tolerance — refills, a
weekend); `pytest -m simulation` runs the full 20 identities × 30 days.
"""

from __future__ import annotations

import pytest

from edgewise.simulation import SHARE_GOAL, Report, SimulationConfig, private_sandbox, simulate


async def _run(config: SimulationConfig) -> Report:
    # A private sandbox: the simulation moves its clock weeks ahead, which the shared one must never see.
    with private_sandbox(seed=config.seed) as sandbox:
        report = await simulate(config, sandbox)
    print("\n".join(report.lines()))
    return report


def _assert_safe_and_thrifty(report: Report) -> None:
    assert report.restrictions == 0, [a for a in report.accounts if a.restricted]
    assert report.outside_hours == 0
    assert report.throttled == 0 and report.failed == {}  # LinkedIn never pushed back
    for account in report.accounts:
        assert account.invitations.used <= account.invitations.allowed, account
        assert account.messages.used <= account.messages.allowed, account
        assert account.invitations.allowed > 0 and account.messages.allowed > 0, account
    assert report.share() >= SHARE_GOAL, report.lines()


async def test_a_short_simulation_uses_the_allowed_budget_without_a_restriction() -> None:
    config = SimulationConfig(identities=2, days=8)
    report = await _run(config)
    _assert_safe_and_thrifty(report)
    assert {a.level for a in report.accounts} == {"classic", "sales_navigator"}
    assert {a.new for a in report.accounts} == {True, False}
    # The weekly window refilled: the established Sales Navigator account invited more than a week's 150.
    sales_navigator = next(a for a in report.accounts if a.level == "sales_navigator")
    assert not sales_navigator.new and sales_navigator.invitations.used > 150


@pytest.mark.simulation
@pytest.mark.timeout(3600)
async def test_thirty_days_of_twenty_identities() -> None:
    report = await _run(SimulationConfig(identities=20, days=30))
    _assert_safe_and_thrifty(report)
    assert {a.level for a in report.accounts} == {"classic", "premium", "sales_navigator"}
