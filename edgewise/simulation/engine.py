"""The discrete-event loop: the production permit policy on a virtual clock, LinkedIn (the sandbox) as judge.

Thirty days of real Temporal cannot run in real time, so this drives the *decisions* of the per-account
workflow — edgewise/permit_policy.py's `admit`, `reserve` and `release`, the very functions
AccountWorkflow calls — over a virtual clock, and executes every granted action against the sandbox over
real HTTP, with the production adapter (linkedin/http_adapter.py) and the catalog's own step functions,
the sandbox's clock frozen at the virtual instant of the write. What it models rather than runs:

- an async run's lane (workflows/run.py `_lane`/`_wait`): ask for a permit; refused → wait
  `retry_after_seconds` (a short wait) or until `available_at` (a long one), then ask again; granted → run
  the one write a write permit covers, release it with what was used, ask again at once;
- the lease (one action at a time per account): a lane asking while the other holds it is told BUSY and
  asks again after `BATCH_RETRY_SECONDS`, as AccountWorkflow answers (after the Smart Limits checks);
- the latencies between a grant, LinkedIn seeing the write, and the release (`SimulationConfig`).
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from activities.permits import OUTREACH_PACING
from edgewise import limits as sl
from edgewise import permit_policy as policy
from edgewise.catalog import CATALOG, ActionSpec, StepContext, units_per_step, validate_parameters
from edgewise.simulation.sandbox_server import PrivateSandbox
from edgewise.simulation.workload import (
    MESSAGE,
    IdentityPlan,
    SimulationConfig,
    invitation_demand,
    message_demand,
    plan_identities,
)
from linkedin.http_adapter import HttpLinkedInAdapter
from linkedin.protocol import (
    AccountRestricted,
    AdapterConfig,
    CustomInviteLimitReached,
    LinkedInError,
    SessionCookies,
    Throttled,
)
from workflows.account import BATCH_RETRY_SECONDS, BUSY
from workflows.contracts import Demand, LeaseGrant
from workflows.run import _SHORT_WAIT_SECONDS as SHORT_WAIT_SECONDS

CONNECT = "linkedin-connect-profile"
MESSAGE_ACTION = "linkedin-message-profile"


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def demand_for(spec: ActionSpec, parameters: dict[str, Any], plan: IdentityPlan) -> Demand:
    """The demand of one async write permit, as activities/permits.py `build_demand` builds it from the
    database (level defaults, no overrides, the identity's hours for outreach, the `standard` profile)."""
    units = units_per_step(spec, parameters)
    return Demand(
        action=spec.slug,
        units=units,
        partial=not spec.is_write,
        limits={b: sl.effective_limit(b, plan.level) for b in units},
        profile="standard",
        pacing=spec.pacing,
        working_hours=plan.working_hours if spec.pacing in OUTREACH_PACING else None,
        timezone=plan.timezone,
    )


def lane_wait_ms(grant: LeaseGrant, now: datetime) -> int:
    """How long a refused lane waits before asking again (workflows/run.py `_wait`)."""
    wait = max(grant.retry_after_seconds or 1.0, 0.05)
    if wait > SHORT_WAIT_SECONDS:
        until = grant.available_at or now
        wait = max((until - now).total_seconds(), 1.0)
    return math.ceil(wait * 1000)  # never wake before the refusal lifts


@dataclass
class Account:
    plan: IdentityPlan
    sandbox_id: int
    adapter: HttpLinkedInAdapter
    limits: sl.LimitsState
    # The policy's random source (AccountWorkflow passes workflow.random()): the pacing gaps.
    rnd: random.Random
    holding: bool = False
    restricted: bool = False


@dataclass
class Lane:
    account: Account
    spec: ActionSpec
    parameters: dict[str, Any]
    targets: list[str]  # profile URNs, in order (repeats: message rounds)
    demand: Demand
    position: int = 0
    grants: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> bool:
        return self.position >= len(self.targets) or self.account.restricted


@dataclass
class Outcome:
    used: dict[str, int] = field(default_factory=dict)
    throttled_retry_after_seconds: float | None = None
    exhausted_buckets: list[str] = field(default_factory=list)


@dataclass
class SimulationRun:
    """What the loop did (the judge's figures come from the sandbox, see report.py)."""

    config: SimulationConfig
    accounts: list[Account]
    lanes: list[Lane]
    writes: int = 0
    throttled: int = 0
    wall_seconds: float = 0.0
    # This process's CPU (the loop, the adapter and the in-process sandbox): comparable across machine loads.
    cpu_seconds: float = 0.0


class Simulation:
    def __init__(self, config: SimulationConfig, sandbox: PrivateSandbox, control: httpx.AsyncClient):
        self.config = config
        self.sandbox = sandbox
        self.control = control
        self._events: list[tuple[int, int, str, int, Any]] = []
        self._seq = 0
        self._world = random.Random(config.seed)  # latencies: the world's randomness, not the policy's

    # --- set-up ---------------------------------------------------------------------------------------

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.control.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def _set_clock(self, at_ms: int) -> None:
        self.sandbox.clock.freeze(at_ms)

    async def _pick_accounts(self, plans: list[IdentityPlan]) -> list[dict[str, Any]]:
        pool = [
            a
            for a in await self._json("GET", "/_sandbox/accounts")
            if a["login"] == "none" and a["status"] == "active"
        ]
        picked: list[dict[str, Any]] = []
        for plan in plans:
            found = next((a for a in pool if a["level"] == plan.level), None)
            if found is None:
                raise RuntimeError(f"the sandbox has no free {plan.level} account left")
            pool.remove(found)
            picked.append(found)
        return picked

    async def _people(self, **params: Any) -> list[str]:
        found = await self._json("GET", "/_sandbox/people", params=params)
        return [p["linkedin_profile_urn"] for p in found]

    async def setup(self) -> tuple[list[Account], list[Lane]]:
        config = self.config
        plans = plan_identities(config)
        self._set_clock(round(min(p.starts for p in plans).timestamp() * 1000))
        accounts: list[Account] = []
        lanes: list[Lane] = []
        for plan, found in zip(plans, await self._pick_accounts(plans), strict=True):
            cookies = await self._json("POST", f"/_sandbox/accounts/{found['id']}/sessions")
            session = SessionCookies(li_at=cookies["li_at"], jsessionid=cookies["JSESSIONID"])

            async def keep(_: SessionCookies) -> None:
                """The adapter keeps the rotated session itself; there is no database to persist it to."""

            account = Account(
                plan=plan,
                sandbox_id=int(found["id"]),
                adapter=HttpLinkedInAdapter(session, keep, AdapterConfig(base_url=self.sandbox.url)),
                limits=sl.LimitsState(first_seen_at=plan.first_seen),
                rnd=random.Random(config.seed * 1_000 + plan.index),
            )
            accounts.append(account)
            strangers = await self._people(
                not_connected_to=found["id"], limit=invitation_demand(config), offset=97 * plan.index
            )
            friends = await self._people(connected_to=found["id"], limit=10_000)
            rounds = -(-message_demand(config) // len(friends))
            connect = CATALOG[CONNECT]
            connect_params = validate_parameters(connect, {"message": plan.note} if plan.note else {})
            message = CATALOG[MESSAGE_ACTION]
            message_params = validate_parameters(message, {"message": MESSAGE})
            lanes.append(
                Lane(account, connect, connect_params, strangers, demand_for(connect, connect_params, plan))
            )
            lanes.append(
                Lane(
                    account,
                    message,
                    message_params,
                    (friends * rounds)[: message_demand(config)],
                    demand_for(message, message_params, plan),
                )
            )
        return accounts, lanes

    # --- the loop -------------------------------------------------------------------------------------

    def _push(self, at_ms: int, kind: str, lane: int, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at_ms, self._seq, kind, lane, payload))

    def _pop(self, end_ms: int) -> Iterator[tuple[int, str, int, Any]]:
        while self._events and self._events[0][0] < end_ms:
            at_ms, _, kind, lane, payload = heapq.heappop(self._events)
            yield at_ms, kind, lane, payload

    def _delay_ms(self, bounds: tuple[float, float]) -> int:
        return round(self._world.uniform(*bounds) * 1000)

    async def run(self) -> SimulationRun:
        started, cpu = time.monotonic(), time.process_time()
        accounts, lanes = await self.setup()
        result = SimulationRun(self.config, accounts, lanes)
        for index, lane in enumerate(lanes):
            self._push(round(lane.account.plan.starts.timestamp() * 1000), "ask", index)
        end_ms = round(self.config.end.timestamp() * 1000)
        for at_ms, kind, index, payload in self._pop(end_ms):
            lane = lanes[index]
            if kind == "ask":
                self._ask(at_ms, index, lane)
            elif kind == "write":
                outcome = await self._write(at_ms, lane, result)
                released_at = at_ms + self._delay_ms(self.config.release_delay)
                self._push(released_at, "release", index, (payload, outcome))
            else:
                held, outcome = payload
                self._release(at_ms, index, lane, held, outcome)
        result.wall_seconds = time.monotonic() - started
        result.cpu_seconds = time.process_time() - cpu
        return result

    def _ask(self, at_ms: int, index: int, lane: Lane) -> None:
        if lane.done:
            return
        account = lane.account
        now = ms_to_datetime(at_ms)
        account.limits.prune(now)  # AccountWorkflow prunes on every acquire (`_expire`)
        answer = policy.admit(account.limits, lane.demand, now, {})
        if isinstance(answer, LeaseGrant):
            lane.refusals[answer.reason or "?"] += 1
            self._push(at_ms + lane_wait_ms(answer, now), "ask", index)
            return
        if answer is None:
            raise AssertionError("a write permit always carries a demand")
        if account.holding:
            lane.refusals[BUSY] += 1
            self._push(at_ms + round(BATCH_RETRY_SECONDS * 1000), "ask", index)
            return
        held = policy.reserve(account.limits, answer, now, account.rnd)
        account.holding = True
        lane.grants += 1
        self._push(at_ms + self._delay_ms(self.config.write_delay), "write", index, held)

    async def _write(self, at_ms: int, lane: Lane, result: SimulationRun) -> Outcome:
        """The permit's one write, as run_batch executes it: the catalog's step, LinkedIn's answer mapped to
        what the release reports."""
        account = lane.account
        target = lane.targets[lane.position]
        token = f"sim-{account.sandbox_id}-{lane.spec.slug}-{lane.position}"
        lane.position += 1
        self._set_clock(at_ms)
        ctx = StepContext(
            adapter=account.adapter,
            input={"linkedin_profile_url": target},
            parameters=lane.parameters,
            page_state=None,
            write_token=token,
            max_results=1,
            produced=0,
        )
        try:
            step = await lane.spec.step(ctx)
        except Throttled as exc:
            result.throttled += 1
            lane.position -= 1  # the input goes back to the queue
            return Outcome(throttled_retry_after_seconds=exc.retry_after_seconds)
        except AccountRestricted:
            account.restricted = True
            return Outcome()
        except CustomInviteLimitReached as exc:
            lane.failed[exc.label] += 1
            return Outcome(exhausted_buckets=["LK_CONNECTION_NOTES"])
        except LinkedInError as exc:
            lane.failed[exc.label] += 1
            return Outcome()
        result.writes += 1
        return Outcome(used=dict(step.usage))

    def _release(
        self, at_ms: int, index: int, lane: Lane, held: policy.Reservation, outcome: Outcome
    ) -> None:
        account = lane.account
        policy.release(
            account.limits,
            held,
            ms_to_datetime(at_ms),
            outcome.used,
            outcome.throttled_retry_after_seconds,
            outcome.exhausted_buckets,
        )
        account.holding = False
        self._push(at_ms, "ask", index)
