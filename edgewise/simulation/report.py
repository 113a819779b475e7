"""The judge's figures: what LinkedIn (the sandbox) saw, against what the contract allowed.

- Restrictions: accounts the sandbox restricted (its tolerances are LinkedIn's, API.md §9). Goal: none.
- Used: invitations and messages in each account's sandbox outbox (every write LinkedIn accepted, once).
- Allowed: oracle.py's maximum for the work asked — the sliding windows at the `standard` defaults of the
  account's level, ramped up from when the platform first saw it, inside its working hours (API.md §7).
- Share = Σ used / Σ allowed over every account and both classes. Goal: ≥ 90 %.
- Also checked: no write outside the identity's working hours (beyond the few seconds a write granted just
  before closing time takes to reach LinkedIn).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx

from edgewise.simulation.engine import Account, Lane, SimulationRun
from edgewise.simulation.oracle import DAY_MS, Rule, in_periods, most_actions, to_ms, working_periods

SHARE_GOAL = 0.9

# API.md §7's defaults for the buckets the campaigns use (no overrides): per class, per level.
_INVITATIONS = {
    "classic": (Rule(25, DAY_MS), Rule(100, 7 * DAY_MS)),
    "premium": (Rule(25, DAY_MS), Rule(100, 7 * DAY_MS)),
    "sales_navigator": (Rule(30, DAY_MS), Rule(150, 7 * DAY_MS)),
}
_MESSAGES = (Rule(100, DAY_MS),)


@dataclass
class ClassFigures:
    used: int
    allowed: int


@dataclass
class AccountFigures:
    sandbox_id: int
    level: str
    timezone: str
    working_hours: str
    new: bool
    restricted: bool
    invitations: ClassFigures
    messages: ClassFigures
    outside_hours: int


@dataclass
class Report:
    identities: int
    days: int
    start: str
    seed: int
    accounts: list[AccountFigures]
    writes: int
    throttled: int
    wall_seconds: float
    cpu_seconds: float
    refusals: dict[str, int] = field(default_factory=dict)
    # Inputs LinkedIn refused (by error label): none expected.
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def restrictions(self) -> int:
        return sum(a.restricted for a in self.accounts)

    @property
    def outside_hours(self) -> int:
        return sum(a.outside_hours for a in self.accounts)

    def totals(self, kind: str | None = None) -> ClassFigures:
        picked = [
            getattr(a, k) for a in self.accounts for k in ("invitations", "messages") if kind in (None, k)
        ]
        return ClassFigures(sum(f.used for f in picked), sum(f.allowed for f in picked))

    def share(self, kind: str | None = None) -> float:
        total = self.totals(kind)
        return total.used / total.allowed if total.allowed else 1.0

    @property
    def passed(self) -> bool:
        return self.restrictions == 0 and self.share() >= SHARE_GOAL and self.outside_hours == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            restrictions=self.restrictions,
            outside_hours=self.outside_hours,
            share=self.share(),
            share_invitations=self.share("invitations"),
            share_messages=self.share("messages"),
            passed=self.passed,
        )
        return data

    def lines(self) -> list[str]:
        def row(label: str, value: str) -> str:
            return f"  {label:<38} {value}"

        def figures(kind: str | None) -> str:
            total = self.totals(kind)
            return f"{total.used:,} / {total.allowed:,}  ({100 * self.share(kind):.1f} %)"

        verdict = "PASS" if self.share() >= SHARE_GOAL else "MISS"
        per_write = 1000 * self.wall_seconds / self.writes if self.writes else 0.0
        out = [
            f"Smart Limits simulation: {self.identities} identities × {self.days} days from {self.start} "
            f"(standard profile, seed {self.seed}); LinkedIn sandbox as judge",
            row("restrictions (goal 0)", f"{self.restrictions}  {'MISS' if self.restrictions else 'PASS'}"),
            row("invitations sent / allowed", figures("invitations")),
            row("messages sent / allowed", figures("messages")),
            row("allowed budget used (goal ≥ 90 %)", f"{figures(None)}  {verdict}"),
            row("writes outside working hours", str(self.outside_hours)),
            row("throttled by LinkedIn (429)", str(self.throttled)),
            row("inputs LinkedIn refused", ", ".join(f"{k} {v:,}" for k, v in self.failed.items()) or "0"),
            row("refusals seen by lanes", ", ".join(f"{k} {v:,}" for k, v in sorted(self.refusals.items()))),
            row(
                "time",
                f"{self.wall_seconds:.0f} s wall, {self.cpu_seconds:.0f} s CPU "
                f"({self.writes:,} writes, {per_write:.1f} ms of wall time each)",
            ),
            "  per identity: sandbox id, level, zone, hours, new?, invitations and messages used / allowed",
        ]
        for a in self.accounts:
            flag = "  RESTRICTED" if a.restricted else ""
            out.append(
                f"    {a.sandbox_id:>4} {a.level:<15} {a.timezone:<20} {a.working_hours:<18} "
                f"{'new' if a.new else 'old'}  {a.invitations.used:>5} / {a.invitations.allowed:<5} "
                f"{a.messages.used:>6} / {a.messages.allowed:<6}{flag}"
            )
        return out


def _hours_label(hours: dict[str, Any] | None) -> str:
    if hours is None:
        return "any time"
    days = hours["days"]
    span = f"{days[0]}-{days[-1]}" if days == list(range(days[0], days[-1] + 1)) else ",".join(map(str, days))
    return f"d{span} {hours['start']}-{hours['end']}"


def _at_ms(entry: dict[str, Any]) -> int:
    return to_ms(datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00")))


async def judge(run: SimulationRun, control: httpx.AsyncClient) -> Report:
    """Read what the sandbox saw of every account and set it against the oracle's allowance."""
    config = run.config
    end_ms = to_ms(config.end)
    # A write granted just before closing time reaches LinkedIn up to this much later.
    slack_ms = round(config.write_delay[1] * 1000) + 1000
    lanes: dict[tuple[int, str], Lane] = {(id(lane.account), lane.spec.pacing): lane for lane in run.lanes}
    refusals: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for lane in run.lanes:
        refusals.update(lane.refusals)
        failed.update(lane.failed)
    figures: list[AccountFigures] = []
    for account in run.accounts:
        figures.append(await _account_figures(account, lanes, control, end_ms, slack_ms))
    return Report(
        identities=config.identities,
        days=config.days,
        start=config.start.date().isoformat(),
        seed=config.seed,
        accounts=figures,
        writes=run.writes,
        throttled=run.throttled,
        wall_seconds=run.wall_seconds,
        cpu_seconds=run.cpu_seconds,
        refusals=dict(refusals),
        failed=dict(failed),
    )


async def _account_figures(
    account: Account,
    lanes: dict[tuple[int, str], Lane],
    control: httpx.AsyncClient,
    end_ms: int,
    slack_ms: int,
) -> AccountFigures:
    plan = account.plan
    status = (await control.get(f"/_sandbox/accounts/{account.sandbox_id}")).raise_for_status().json()
    outbox = (await control.get(f"/_sandbox/accounts/{account.sandbox_id}/outbox")).raise_for_status().json()
    periods = working_periods(plan.working_hours, plan.timezone, to_ms(plan.starts), end_ms)
    first_seen = to_ms(plan.first_seen)
    invited = lanes[(id(account), "invitation")]
    messaged = lanes[(id(account), "message")]
    allowed_invitations = most_actions(_INVITATIONS[plan.level], first_seen, periods, len(invited.targets))
    allowed_messages = most_actions(_MESSAGES, first_seen, periods, len(messaged.targets))
    writes = [*outbox["invitations"], *outbox["messages"]]
    return AccountFigures(
        sandbox_id=account.sandbox_id,
        level=plan.level,
        timezone=plan.timezone,
        working_hours=_hours_label(plan.working_hours),
        new=plan.new,
        restricted=status["status"] == "restricted",
        invitations=ClassFigures(len(outbox["invitations"]), len(allowed_invitations)),
        messages=ClassFigures(len(outbox["messages"]), len(allowed_messages)),
        outside_hours=sum(not in_periods(periods, _at_ms(w), slack_ms) for w in writes),
    )
