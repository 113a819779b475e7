"""The sandbox's world: people, companies and accounts, generated from a seed at start-up (never stored).

Everything here is immutable after generation; what accounts *do* lives in the state store. The same seed
always gives the same world, so ids, slugs and URNs survive restarts without being persisted.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from linkedin.sandbox import ids, vocab
from linkedin.sandbox.model import (
    Account,
    Company,
    Conversation,
    Education,
    Message,
    Person,
    Position,
    ReceivedInvitation,
)

PEOPLE_COUNT = 10400  # ≥ 5,000 (API.md §9); 10,400 so a 10,000-input benchmark has distinct people
COMPANY_COUNT = 500
# (level, login, how many): exactly the accounts API.md §9 promises.
ACCOUNT_PLAN: tuple[tuple[str, str, int], ...] = (
    ("classic", "none", 100),
    ("premium", "none", 20),
    ("sales_navigator", "none", 20),
    ("classic", "pin", 10),
    ("classic", "2fa", 10),
    ("classic", "in_app", 10),
    ("classic", "captcha", 10),
)
# Generated history ends here; whatever accounts do at run time (sandbox clock) comes after it.
HISTORY_END_MS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
_DAY_MS = 86_400_000


def normalize_slug(value: str) -> str:
    """Slugs are stored and looked up lower-case NFC, whatever spelling arrives."""
    return unicodedata.normalize("NFC", value).lower()


def _ascii(value: str) -> str:
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()


def _slug_base(*words: str) -> str:
    text = "-".join(words).lower()
    text = re.sub(r"[\s'’.]+", "-", text)
    return normalize_slug(re.sub(r"-{2,}", "-", text).strip("-"))


@dataclass(frozen=True)
class World:
    seed: int
    people: tuple[Person, ...]  # sorted by member id (the control API's stable order)
    companies: tuple[Company, ...]
    accounts: tuple[Account, ...]
    profiles: dict[int, Person]  # every profile by member id: people and the accounts' own
    by_slug: dict[str, Person]
    by_token: dict[str, Person]
    people_ids: frozenset[int]
    company_by_slug: dict[str, Company]
    company_by_id: dict[int, Company]
    account_by_id: dict[int, Account]
    account_by_username: dict[str, Account]
    account_by_member: dict[int, Account]
    invitations: dict[int, ReceivedInvitation]
    conversations: dict[tuple[int, str], Conversation]  # (account id, thread id)

    def find_profile(self, ref: str) -> Person | None:
        """A slug in any case/normal form, a profile URN, or its bare token."""
        if ref.startswith(ids.PROFILE_URN_PREFIX):
            return self.by_token.get(ref[len(ids.PROFILE_URN_PREFIX) :])
        return self.by_slug.get(normalize_slug(ref)) or self.by_token.get(ref)


class _Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.slugs: set[str] = set()

    def companies(self) -> list[Company]:
        rng = self.rng
        names = [f"{p} {s}" for p in vocab.COMPANY_PREFIXES for s in vocab.COMPANY_SUFFIXES]
        chosen = rng.sample(names, COMPANY_COUNT)
        company_ids = rng.sample(range(10_000, 99_999_999), COMPANY_COUNT)
        result = []
        for name, company_id in zip(chosen, company_ids, strict=True):
            slug = _slug_base(name)
            result.append(
                Company(
                    id=company_id,
                    slug=slug,
                    name=name,
                    industry=rng.choice(vocab.INDUSTRIES),
                    employees=rng.choice(vocab.EMPLOYEE_RANGES),
                    headquarters=rng.choice(vocab.LOCATIONS)[1],
                    website=f"https://www.{_ascii(slug).replace('-', '')}.example",
                )
            )
        return result

    def unique_slug(self, first: str, last: str, vanity: bool = False) -> str:
        base = _slug_base(first, last)
        if vanity and base not in self.slugs:
            self.slugs.add(base)
            return base
        while True:
            slug = f"{base}-{self.rng.getrandbits(24):06x}"
            if slug not in self.slugs:
                self.slugs.add(slug)
                return slug

    def person(
        self, member_id: int, companies: list[Company], name: tuple[str, str, str] | None = None
    ) -> Person:
        rng = self.rng
        if name is not None:
            first, last, slug = name
            slug = normalize_slug(slug)
            self.slugs.add(slug)
        else:
            first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
            slug = self.unique_slug(first, last, vanity=rng.random() < 0.03)
        geo_id, location = rng.choice(vocab.LOCATIONS)
        positions = self.positions(companies, location)
        current = positions[0]
        previous = positions[1].company.name if len(positions) > 1 else "freelance"
        headline = rng.choice(vocab.HEADLINE_TEMPLATES).format(
            title=current.title, company=current.company.name, previous=previous
        )
        start_year = rng.randint(1998, 2020)
        educations = tuple(
            Education(
                school=rng.choice(vocab.SCHOOLS),
                degree=rng.choice(vocab.DEGREES),
                field_of_study=rng.choice(vocab.FIELDS_OF_STUDY),
                start_year=start_year - 4 * k,
                end_year=start_year - 4 * k + rng.randint(1, 4),
            )
            for k in range(rng.randint(1, 2))
        )
        return Person(
            member_id=member_id,
            token=ids.profile_token(member_id),
            slug=slug,
            first_name=first,
            last_name=last,
            headline=headline,
            location=location,
            geo_id=geo_id,
            industry=current.company.industry,
            positions=positions,
            educations=educations,
            skills=tuple(rng.sample(vocab.SKILLS, rng.randint(3, 10))),
            search_text=f"{first} {last} {headline}".lower(),
        )

    def positions(self, companies: list[Company], location: str) -> tuple[Position, ...]:
        rng = self.rng
        count = rng.randint(1, 4)
        year, month = rng.randint(2016, 2026), rng.randint(1, 10)
        result: list[Position] = []
        end: tuple[int, int] | None = None
        for _ in range(count):
            title = rng.choice(vocab.TITLES)
            company = rng.choice(companies)
            result.append(
                Position(
                    title=title,
                    company=company,
                    location=location,
                    start=(year, month),
                    end=end,
                    description=f"{title} in the {company.industry.lower()} team.",
                )
            )
            end = (year - (1 if month == 1 else 0), 12 if month == 1 else month - 1)
            year -= rng.randint(1, 4)
            month = rng.randint(1, 12)
        return tuple(result)

    def account(
        self, account_id: int, level: str, login: str, profile: Person, people: list[Person]
    ) -> Account:
        rng = self.rng
        n_connections, n_invitations = rng.randint(100, 160), rng.randint(5, 20)
        # Distinct people: nobody is both a connection and someone with a pending invitation.
        picked = rng.sample(range(len(people)), n_connections + n_invitations)
        connected = [people[i] for i in picked[:n_connections]]
        inviters = [people[i] for i in picked[n_connections:]]
        connections = sorted(
            ((p.member_id, HISTORY_END_MS - rng.randint(1, 3 * 365) * _DAY_MS) for p in connected),
            key=lambda c: (-c[1], c[0]),
        )
        invitations = tuple(
            ReceivedInvitation(
                id=7_000_000_000 + account_id * 100 + k,
                account_id=account_id,
                from_member_id=p.member_id,
                secret=ids.shared_secret(self.seed, account_id, k),
                message=rng.choice(vocab.INVITATION_NOTES) if rng.random() < 0.4 else None,
                sent_at=HISTORY_END_MS - rng.randint(1, 30 * 24 * 60) * 60_000,
            )
            for k, p in enumerate(inviters)
        )
        conversations = tuple(
            self.conversation(account_id, profile, p) for p in rng.sample(connected, rng.randint(25, 35))
        )
        return Account(
            id=account_id,
            username=f"account{account_id:03d}@sandbox.edgewise.test",
            password=f"sandbox-{rng.getrandbits(40):010x}",
            level=level,
            login=login,
            profile=profile,
            connections=tuple(connections),
            connection_ids=frozenset(p.member_id for p in connected),
            received_invitations=invitations,
            conversations=conversations,
        )

    def conversation(self, account_id: int, me: Person, other: Person) -> Conversation:
        rng = self.rng
        thread = ids.thread_id(account_id, other.member_id)
        at = HISTORY_END_MS - rng.randint(1, 120 * 24 * 60) * 60_000
        sender = rng.choice((me.member_id, other.member_id))
        messages = []
        for k in range(rng.randint(1, 8)):
            messages.append(
                Message(
                    message_id=ids.opaque("message", account_id, thread, k),
                    sender_id=sender,
                    text=rng.choice(vocab.MESSAGE_LINES),
                    at=at,
                )
            )
            at += rng.randint(1, 48 * 60) * 60_000
            sender = other.member_id if sender == me.member_id else me.member_id
        unread = messages[-1].sender_id == other.member_id and rng.random() < 0.5
        return Conversation(
            thread_id=thread, member_id=other.member_id, messages=tuple(messages), unread=unread
        )


@lru_cache(maxsize=4)
def build_world(seed: int = 7, accounts_scale: int = 1) -> World:
    """Generate the world for `seed`. Cached: the world is immutable, so apps in one process share it.
    `accounts_scale` multiplies ACCOUNT_PLAN (the contract's world is 1): a test session whose tests each
    need accounts nobody used before runs out of the contract's 100 classic ones."""
    gen = _Generator(seed)
    companies = gen.companies()
    plan = [(level, login, count * accounts_scale) for level, login, count in ACCOUNT_PLAN]
    n_accounts = sum(n for _, _, n in plan)
    member_ids = gen.rng.sample(range(10_000_000, 999_999_999), PEOPLE_COUNT + n_accounts)
    people = [
        gen.person(member_id, companies, vocab.SHOWCASE_PEOPLE[i] if i < len(vocab.SHOWCASE_PEOPLE) else None)
        for i, member_id in enumerate(member_ids[:PEOPLE_COUNT])
    ]
    accounts: list[Account] = []
    for level, login, count in plan:
        for _ in range(count):
            account_id = len(accounts) + 1
            profile = gen.person(member_ids[PEOPLE_COUNT + account_id - 1], companies)
            accounts.append(gen.account(account_id, level, login, profile, people))

    profiles = {p.member_id: p for p in people}
    profiles.update({a.profile.member_id: a.profile for a in accounts})
    return World(
        seed=seed,
        people=tuple(sorted(people, key=lambda p: p.member_id)),
        companies=tuple(companies),
        accounts=tuple(accounts),
        profiles=profiles,
        by_slug={p.slug: p for p in profiles.values()},
        by_token={p.token: p for p in profiles.values()},
        people_ids=frozenset(p.member_id for p in people),
        company_by_slug={c.slug: c for c in companies},
        company_by_id={c.id: c for c in companies},
        account_by_id={a.id: a for a in accounts},
        account_by_username={a.username.lower(): a for a in accounts},
        account_by_member={a.profile.member_id: a for a in accounts},
        invitations={inv.id: inv for a in accounts for inv in a.received_invitations},
        conversations={(a.id, c.thread_id): c for a in accounts for c in a.conversations},
    )
