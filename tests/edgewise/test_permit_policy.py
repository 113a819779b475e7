"""edgewise/permit_policy.py, the decisions AccountWorkflow and the simulation share: a permit's units count
from its release (when LinkedIn has seen the write), and its pacing gap runs from there too."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from edgewise import limits as sl
from edgewise import permit_policy as policy
from workflows.contracts import Demand, LeaseGrant

DAY = timedelta(days=1)
GRANTED_AT = datetime(2027, 3, 1, 8, 0, 30, tzinfo=UTC)
INVITE = Demand(
    action="linkedin-connect-profile",
    units={"LK_CONNECTION_REQUESTS": 1},
    limits={"LK_CONNECTION_REQUESTS": 1},
    profile="standard",
    pacing="invitation",
)


def granted(limits: sl.LimitsState, at: datetime) -> policy.Reservation:
    admission = policy.admit(limits, INVITE, at, {})
    assert isinstance(admission, policy.Admission)
    return policy.reserve(limits, admission, at, random.Random(1))


def refusal(limits: sl.LimitsState, at: datetime) -> LeaseGrant:
    answer = policy.admit(limits, INVITE, at, {})
    assert isinstance(answer, LeaseGrant) and not answer.granted
    return answer


def test_a_write_counts_from_its_release_so_it_never_leaves_the_window_before_linkedin_forgets_it() -> None:
    limits = sl.LimitsState(first_seen_at=GRANTED_AT - 30 * DAY)
    held = granted(limits, GRANTED_AT)
    released_at = GRANTED_AT + timedelta(seconds=75)  # LinkedIn saw the write somewhere in between
    policy.release(limits, held, released_at, {"LK_CONNECTION_REQUESTS": 1})
    frees_at = sl.from_epoch(sl.to_slot(released_at)) + DAY
    late = refusal(limits, frees_at - timedelta(seconds=1))
    assert late.reason == "LK_CONNECTION_REQUESTS" and late.available_at == frees_at
    # Counted from the grant it would have freed a minute earlier, while LinkedIn still counts it.
    assert frees_at > sl.from_epoch(sl.to_slot(GRANTED_AT)) + DAY
    assert frees_at >= released_at + DAY


def test_an_unsent_write_is_not_counted_and_the_pacing_gap_runs_from_the_release() -> None:
    limits = sl.LimitsState(first_seen_at=GRANTED_AT - 30 * DAY)
    held = granted(limits, GRANTED_AT)
    assert held.pace_gap is not None and 45 <= held.pace_gap <= 90
    released_at = GRANTED_AT + timedelta(seconds=5)
    policy.release(limits, held, released_at, {})  # LinkedIn refused it before sending
    assert limits.peek("LK_CONNECTION_REQUESTS").consumed(released_at) == 0
    paced = refusal(limits, released_at)
    assert paced.reason == policy.PACING
    assert paced.available_at == released_at + timedelta(seconds=held.pace_gap)
