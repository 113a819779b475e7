"""What the simulation asks of its identities: who they are and the campaigns they run.

Each identity is one sandbox account (login without verification) at a mix of levels — mostly classic, some
Sales Navigator and premium, as outreach teams have them — in several time zones, most with the default
working hours (Mon–Fri 08:00–19:00), some with other hours or none (any time). Half are new to the platform
(they ramp up from the moment they are first seen, at different hours of the first day), half established.

Each runs two async campaigns at once, both asking more than the limits allow, so that the limits (not the
work) bound what gets done:
- connect (`linkedin-connect-profile`) to people it is not connected to — premium and Sales Navigator
  accounts with a note, classic accounts without (a classic account may add a note to 3 invitations a
  month: nobody runs a noted campaign on one);
- message (`linkedin-message-profile`) its first-degree connections, in rounds (a follow-up sequence).
Inputs are profile URNs, as a client that already has them sends them (a URL would cost one profile read
per input, which no LinkedIn rule counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# A Monday. The US (14 March 2027) and EU (28 March 2027) daylight-saving changes fall inside 30 days.
DEFAULT_START = datetime(2027, 3, 1, tzinfo=UTC)

LEVEL_CYCLE = ("classic", "sales_navigator", "classic", "premium", "classic")
ZONES = (
    "Europe/Paris",
    "America/New_York",
    "UTC",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Sydney",
)
DEFAULT_HOURS: dict[str, Any] = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "19:00"}
SHORT_WEEK_HOURS: dict[str, Any] = {"days": [1, 2, 3, 4, 5, 6], "start": "09:00", "end": "17:30"}
NOTE = "Hi, I came across your profile and would be glad to connect."
MESSAGE = "Thanks for connecting! Would you be open to a short call next week?"


@dataclass(frozen=True)
class SimulationConfig:
    identities: int = 20
    days: int = 30
    start: datetime = DEFAULT_START
    seed: int = 7
    # Seconds from a grant until LinkedIn sees the write (permit answer, batch activity, profile resolution),
    # and from the write until the release reaches the account: drawn at random within these ranges.
    write_delay: tuple[float, float] = (0.3, 3.0)
    release_delay: tuple[float, float] = (0.2, 1.5)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class IdentityPlan:
    index: int
    level: str
    timezone: str
    working_hours: dict[str, Any] | None
    # When the platform first saw the account (its ramp-up starts there); the identity works from `starts`.
    first_seen: datetime
    starts: datetime
    note: str | None = None

    @property
    def new(self) -> bool:
        return self.first_seen == self.starts


def plan_identities(config: SimulationConfig) -> list[IdentityPlan]:
    plans: list[IdentityPlan] = []
    for i in range(config.identities):
        level = LEVEL_CYCLE[i % len(LEVEL_CYCLE)]
        hours: dict[str, Any] | None = DEFAULT_HOURS
        if i % 10 == 9:
            hours = None
        elif i % 4 == 3:
            hours = SHORT_WEEK_HOURS
        if i % 2 == 0:
            # Connected during the first day, at different hours: the ramp-up steps fall at all times of day.
            first_seen = config.start + timedelta(hours=(i * 5) % 24, minutes=17 * i % 60)
            starts = first_seen
        else:
            first_seen = config.start - timedelta(days=90)
            starts = config.start
        plans.append(
            IdentityPlan(
                index=i,
                level=level,
                timezone=ZONES[i % len(ZONES)],
                working_hours=hours,
                first_seen=first_seen,
                starts=starts,
                note=None if level == "classic" else NOTE,
            )
        )
    return plans


def invitation_demand(config: SimulationConfig) -> int:
    """Invitation targets per identity: more than the most generous level could send in the period
    (30 a day, 150 a week)."""
    weeks = config.days / 7 + 1
    return int(min(config.days * 30, weeks * 150)) + 50


def message_demand(config: SimulationConfig) -> int:
    """Messages per identity: more than 100 a day, every day."""
    return config.days * 100 + 50
