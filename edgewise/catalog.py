"""The declarative action catalog (ACTIONS.md). One entry per action: its input, parameters, output
schema, identity rule, level, paging, limit buckets, credit ratio and a `step` that performs one LinkedIn
page or write through the adapter protocol. Adding an action = one entry + one adapter method + its
sandbox route; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgewise import urls
from linkedin.protocol import LinkedInAdapter, LinkedInUnavailable, Page, Record, WriteResult

IdentityRule = Literal["any", "direct", "direct_one"]
InputKind = Literal[
    "profile", "company", "people_search", "company_search", "sales_search", "thread", "invitation"
]


class StrictParams(BaseModel):
    # Strict: "10" is not a number and "true" is not a boolean (no silent coercion of what clients send).
    model_config = ConfigDict(extra="forbid", strict=True)


class NoParams(StrictParams):
    pass


class PagedParams(StrictParams):
    max_results: int | None = Field(default=None, ge=1)


class ExtractPeopleParams(StrictParams):
    sections: list[Literal["experiences", "educations", "skills"]] = Field(default_factory=list)


class ConversationsParams(PagedParams):
    unread_only: bool = False


def _not_blank(text: str) -> str:
    # LinkedIn refuses a message of spaces only: it is an empty message, a 400 here rather than a 424 later.
    if not text.strip():
        raise ValueError("must not be empty or only whitespace")
    return text


class ConnectParams(StrictParams):
    message: str | None = Field(default=None, max_length=300)

    @field_validator("message")
    @classmethod
    def _blank_note_is_no_note(cls, note: str | None) -> str | None:
        # LinkedIn sends a note of spaces as a plain invitation: so must the limits (no LK_CONNECTION_NOTES).
        return note if note and note.strip() else None


class MessageParams(StrictParams):
    message: Annotated[str, Field(min_length=1, max_length=8000), AfterValidator(_not_blank)]


class InMailParams(StrictParams):
    subject: str | None = Field(default=None, max_length=200)
    message: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]


@dataclass
class StepContext:
    """What one step of one input sees. `page_state` is None on the first step of an input."""

    adapter: LinkedInAdapter
    input: dict[str, Any]  # normalised input fields
    parameters: dict[str, Any]  # validated parameters (defaults applied)
    page_state: dict[str, Any] | None
    write_token: str  # deterministic per run input: de-duplicates writes across retries
    max_results: int  # what the caller asked for, clamped to the action's ceiling
    produced: int  # outputs this input already produced
    ceiling: int = 0  # the action's own max_results (a listing stopped by it gets a warning)
    # Results this step may fetch under the account's Smart Limits (a page is cut to what remains).
    budget: int | None = None


@dataclass
class StepResult:
    outputs: list[Record]
    page_state: dict[str, Any] | None = None  # None → this input is finished
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # Counted against limit buckets (results fetched, writes sent). A write that did nothing counts 0.
    usage: dict[str, int] = field(default_factory=dict)


StepFn = Callable[[StepContext], Awaitable[StepResult]]


def credited_results(is_write: bool, result: StepResult) -> int:
    """Results that cost credits (API.md §8): rows returned; a write counts only when it did something
    (connecting to someone already connected or invited costs nothing)."""
    if is_write:
        return 1 if any(result.usage.values()) else 0
    return len(result.outputs)


@dataclass(frozen=True)
class ActionSpec:
    slug: str
    name: str
    description: str
    input_field: str | None
    input_kind: InputKind | None
    parameters_model: type[StrictParams]
    output_fields: dict[str, Any]
    identity: IdentityRule
    managed_allowed: bool
    required_level: str | None
    page_size: int | None
    max_results: int | None
    limit_buckets: tuple[str, ...]
    credit_ratio: float
    is_write: bool
    step: StepFn
    # The pacing class for async work on one account (ARCHITECTURE/API §7): invitation, message, visit, ...
    pacing: str = "read"
    extra_input_fields: tuple[str, ...] = ()
    # A write LinkedIn cannot de-duplicate (no write token, nothing to read back — a profile visit): after a
    # lost answer it is not retried, since LinkedIn may have done it already.
    unkeyed_write: bool = False

    def catalog_entry(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "input_fields": [f for f in (self.input_field, *self.extra_input_fields) if f],
            "parameters": self.parameters_model.model_json_schema(),
            "output_fields": self.output_fields,
            "identity": self.identity,
            "managed_allowed": self.managed_allowed,
            "required_level": self.required_level,
            "page_size": self.page_size,
            "max_results": self.max_results,
            "limit_buckets": list(self.limit_buckets),
            "credit_ratio": self.credit_ratio,
        }


# --- output schemas ---------------------------------------------------------------------------------------


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props}


_S: dict[str, Any] = {"type": "string"}
_SN: dict[str, Any] = {"type": ["string", "null"]}
_I: dict[str, Any] = {"type": "integer"}
_B: dict[str, Any] = {"type": "boolean"}
_DT: dict[str, Any] = {"type": "string", "format": "date-time"}

PERSON_FIELDS: dict[str, Any] = {
    "linkedin_profile_id": _I,
    "linkedin_profile_urn": _S,
    "public_identifier": _S,
    "linkedin_profile_url": _S,
    "first_name": _S,
    "last_name": _S,
    "headline": _SN,
    "location": _SN,
}
PERSON = _obj(PERSON_FIELDS)
EXTRACT_PERSON = _obj(
    {
        **PERSON_FIELDS,
        "current_company": _SN,
        "experiences": {"type": "array", "items": {"type": "object"}},
        "educations": {"type": "array", "items": {"type": "object"}},
        "skills": {"type": "array", "items": _S},
    }
)
SEARCH_PERSON = _obj({**PERSON_FIELDS, "connection_degree": {"type": ["integer", "null"]}})
COMPANY = _obj(
    {
        "linkedin_company_id": _I,
        "linkedin_company_url": _S,
        "name": _S,
        "industry": _SN,
        "employee_count_range": _SN,
        "headquarters": _SN,
        "website": _SN,
    }
)
VISIT = _obj({"linkedin_profile_id": _I, "linkedin_profile_urn": _S, "visited_at": _DT})
CONNECT = _obj(
    {
        "linkedin_profile_id": _I,
        "invitation_sent": _B,
        "connected": _B,
        "pending": _B,
        "connection_sent_at": _DT,
    }
)
MESSAGE = _obj(
    {"linkedin_profile_id": _I, "linkedin_thread_id": _S, "linkedin_message_id": _S, "delivered_at": _DT}
)
CONVERSATION = _obj(
    {
        "linkedin_thread_id": _S,
        "linkedin_thread_url": _S,
        "participants": {"type": "array", "items": PERSON},
        "last_message_at": _DT,
        "unread": _B,
    }
)
THREAD_MESSAGE = _obj({"linkedin_message_id": _S, "sender": PERSON, "text": _S, "sent_at": _DT})
INVITATION = _obj(
    {
        "linkedin_invitation_urn": _S,
        "invitation_secret": _SN,
        "person": PERSON,
        "message": _SN,
        "sent_at": _DT,
    }
)
INVITATION_ACTION = _obj({"linkedin_invitation_urn": _S, "accepted": _B, "withdrawn": _B, "at": _DT})
ME = EXTRACT_PERSON


# --- step helpers ---------------------------------------------------------------------------------------


def profile_ref(normalized: str) -> str:
    """The adapter's profile reference for a normalised input: the slug, or the URN as given."""
    return urls.profile_slug(normalized) or normalized


async def _profile_urn(ctx: StepContext) -> tuple[str, int | None]:
    """URL → URN (one profile lookup); a URN input saves the lookup."""
    target = ctx.input["linkedin_profile_url"]
    if target.startswith("urn:li:fsd_profile:"):
        return target, None
    profile = await ctx.adapter.get_profile(profile_ref(target))
    return profile["linkedin_profile_urn"], profile.get("linkedin_profile_id")


def _offset_paged(
    fetch: Callable[[StepContext, int, int], Awaitable[Page]], page_size: int, bucket: str | None
) -> StepFn:
    """A listing paged by offset, stopping at max_results or the end; warns when a cap stopped it."""

    async def step(ctx: StepContext) -> StepResult:
        start = int((ctx.page_state or {}).get("start", 0))
        remaining = ctx.max_results - ctx.produced
        if remaining <= 0:
            return StepResult(outputs=[])
        page = await fetch(ctx, start, min(page_size, remaining, ctx.budget or page_size))
        items = page.items[:remaining]
        produced = ctx.produced + len(items)
        warnings: list[dict[str, Any]] = []
        more = page.next_start is not None and len(items) > 0
        if page.capped and not more:
            warnings.append(
                {"label": "SEARCH_CAP_REACHED", "message": "LinkedIn's result cap stopped this search"}
            )
        elif more and produced >= ctx.max_results and ctx.ceiling and ctx.max_results >= ctx.ceiling:
            warnings.append(
                {
                    "label": "SEARCH_CAP_REACHED",
                    "message": "the action's max_results ceiling stopped this listing",
                }
            )
        next_state = {"start": page.next_start} if more and produced < ctx.max_results else None
        usage = {bucket: len(items)} if bucket else {}
        return StepResult(outputs=items, page_state=next_state, warnings=warnings, usage=usage)

    return step


def _cursor_paged(fetch: Callable[[StepContext, str | None, int], Awaitable[Page]], page_size: int) -> StepFn:
    async def step(ctx: StepContext) -> StepResult:
        cursor = (ctx.page_state or {}).get("cursor")
        remaining = ctx.max_results - ctx.produced
        if remaining <= 0:
            return StepResult(outputs=[])
        page = await fetch(ctx, cursor, min(page_size, remaining, ctx.budget or page_size))
        items = page.items[:remaining]
        produced = ctx.produced + len(items)
        more = page.next_cursor is not None and len(items) > 0 and produced < ctx.max_results
        return StepResult(outputs=items, page_state={"cursor": page.next_cursor} if more else None)

    return step


# --- steps ------------------------------------------------------------------------------------------------


async def _extract_people(ctx: StepContext) -> StepResult:
    sections = list(ctx.parameters.get("sections") or [])
    record = await ctx.adapter.get_profile(profile_ref(ctx.input["linkedin_profile_url"]), sections)
    return StepResult(outputs=[record], usage={"LK_PROFILE_ENRICHMENTS": 1})


async def _extract_company(ctx: StepContext) -> StepResult:
    slug = ctx.input["linkedin_company_url"].rstrip("/").rsplit("/", 1)[-1]
    record = await ctx.adapter.get_company(slug)
    return StepResult(outputs=[record], usage={"LK_PROFILE_ENRICHMENTS": 1})


async def _me(ctx: StepContext) -> StepResult:
    me = await ctx.adapter.me()
    record = await ctx.adapter.get_profile(me.linkedin_profile_urn, ["experiences", "educations", "skills"])
    return StepResult(outputs=[record])


async def _visit(ctx: StepContext) -> StepResult:
    urn, _ = await _profile_urn(ctx)
    result = await ctx.adapter.visit_profile(urn)
    return StepResult(outputs=[result.record], usage={"LK_PROFILE_VISITS": 1 if result.sent else 0})


async def _pending_invitation_to(adapter: LinkedInAdapter, urn: str) -> WriteResult | None:
    """After an ambiguous answer: the invitation to `urn` if LinkedIn holds one pending (the newest page of
    sent invitations is where one just sent is)."""
    page = await adapter.sent_invitations(0, 100)
    for item in page.items:
        person = item.get("person") or {}
        if person.get("linkedin_profile_urn") == urn:
            record = {
                "linkedin_profile_id": person.get("linkedin_profile_id"),
                "invitation_sent": True,
                "connected": False,
                "pending": True,
                "connection_sent_at": item.get("sent_at"),
            }
            return WriteResult(record=record, sent=True)
    return None


async def _connect(ctx: StepContext) -> StepResult:
    urn, _ = await _profile_urn(ctx)
    note = ctx.parameters.get("message")
    try:
        result = await ctx.adapter.connect(urn, note, ctx.write_token)
    except LinkedInUnavailable:
        # A 5xx or a timeout may come after LinkedIn sent the invitation: read back before anyone writes
        # again, so it is reported and counted exactly once (an invitation that was pending before this
        # input would be counted too: the safe side of the limits).
        found = await _pending_invitation_to(ctx.adapter, urn)
        if found is None:
            raise
        result = found
    usage: dict[str, int] = {}
    if result.sent:
        usage = {"LK_CONNECTION_REQUESTS": 1, "LK_CONNECTION_REQUESTS_WEEKLY": 1}
        if note:
            usage["LK_CONNECTION_NOTES"] = 1
    return StepResult(outputs=[result.record], usage=usage)


async def _sent_by_token(ctx: StepContext, bucket: str) -> StepResult | None:
    """A retry after a timeout or a 5xx first reads back by the input's token (LinkedIn may have applied the
    write and lost only its answer): exactly one message per input, counted once. None: not sent yet."""
    existing = await ctx.adapter.find_message_by_token(ctx.write_token)
    if existing is None:
        return None
    return StepResult(outputs=[existing], usage={bucket: 1})


async def _message(ctx: StepContext) -> StepResult:
    urn, _ = await _profile_urn(ctx)
    earlier = await _sent_by_token(ctx, "LK_MESSAGES_SENT")
    if earlier is not None:
        return earlier
    result = await ctx.adapter.send_message(urn, ctx.parameters["message"], ctx.write_token)
    return StepResult(outputs=[result.record], usage={"LK_MESSAGES_SENT": 1})


async def _inmail(ctx: StepContext) -> StepResult:
    urn, _ = await _profile_urn(ctx)
    earlier = await _sent_by_token(ctx, "LK_INMAILS")
    if earlier is not None:
        return earlier
    result = await ctx.adapter.send_inmail(
        urn, ctx.parameters.get("subject"), ctx.parameters["message"], ctx.write_token
    )
    # The token is this input's own: a replay is this input's InMail, sent once, not yet counted.
    return StepResult(outputs=[result.record], usage={"LK_INMAILS": 1})


# How far a read-back looks through an invitation listing (100 a page) after an ambiguous answer.
_READ_BACK_PAGES = 10


async def _still_pending(listing: Callable[[int, int], Awaitable[Page]], urn: str) -> bool:
    """Whether an invitation listing (received or sent, pending only) still holds `urn`."""
    wanted = urn.rsplit(":", 1)[-1]
    start: int | None = 0
    for _ in range(_READ_BACK_PAGES):
        if start is None:
            break
        page = await listing(start, 100)
        if any(
            str(item.get("linkedin_invitation_urn", "")).rsplit(":", 1)[-1] == wanted for item in page.items
        ):
            return True
        start = page.next_start
    return False


async def _invitation_action(
    ctx: StepContext,
    write: Callable[[], Awaitable[WriteResult]],
    listing: Callable[[int, int], Awaitable[Page]],
    *,
    accepting: bool,
) -> StepResult:
    """Accept or withdraw. After an ambiguous answer (a 5xx or a timeout, maybe after LinkedIn acted) the
    invitation's absence from the pending listing shows it was done: reported and counted once; still
    pending → the error stands and the write is retried."""
    urn = ctx.input["linkedin_invitation_urn"]
    try:
        result = await write()
    except LinkedInUnavailable:
        if await _still_pending(listing, urn):
            raise
        record = {
            "linkedin_invitation_urn": urn,
            "accepted": accepting,
            "withdrawn": not accepting,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        result = WriteResult(record=record, sent=True)
    return StepResult(outputs=[result.record], usage={"LK_INVITATION_ACTIONS": 1 if result.sent else 0})


async def _accept(ctx: StepContext) -> StepResult:
    def write() -> Awaitable[WriteResult]:
        return ctx.adapter.accept_invitation(
            ctx.input["linkedin_invitation_urn"], ctx.input.get("invitation_secret"), ctx.write_token
        )

    return await _invitation_action(ctx, write, ctx.adapter.received_invitations, accepting=True)


async def _withdraw(ctx: StepContext) -> StepResult:
    def write() -> Awaitable[WriteResult]:
        return ctx.adapter.withdraw_invitation(ctx.input["linkedin_invitation_urn"], ctx.write_token)

    return await _invitation_action(ctx, write, ctx.adapter.sent_invitations, accepting=False)


def _search(kind: str) -> Callable[[StepContext, int, int], Awaitable[Page]]:
    async def fetch(ctx: StepContext, start: int, count: int) -> Page:
        url_field = {
            "people": "linkedin_people_search_url",
            "companies": "linkedin_company_search_url",
            "sales_people": "sales_navigator_profile_search_url",
        }[kind]
        params = urls.search_params(ctx.input[url_field])
        if kind == "people":
            return await ctx.adapter.search_people(params, start, count)
        if kind == "companies":
            return await ctx.adapter.search_companies(params, start, count)
        return await ctx.adapter.sales_search_people(params, start, count)

    return fetch


async def _fetch_connections(ctx: StepContext, start: int, count: int) -> Page:
    return await ctx.adapter.connections(start, count)


async def _fetch_received(ctx: StepContext, start: int, count: int) -> Page:
    return await ctx.adapter.received_invitations(start, count)


async def _fetch_sent(ctx: StepContext, start: int, count: int) -> Page:
    return await ctx.adapter.sent_invitations(start, count)


async def _fetch_conversations(ctx: StepContext, cursor: str | None, count: int) -> Page:
    return await ctx.adapter.conversations(cursor, count, bool(ctx.parameters.get("unread_only")))


async def _fetch_messages(ctx: StepContext, cursor: str | None, count: int) -> Page:
    return await ctx.adapter.messages(urls.thread_id(ctx.input["linkedin_thread_url"]), cursor, count)


# --- the catalog ------------------------------------------------------------------------------------------


def _spec(**kw: Any) -> ActionSpec:
    defaults: dict[str, Any] = {
        "input_kind": None,
        "parameters_model": NoParams,
        "managed_allowed": False,
        "required_level": None,
        "page_size": None,
        "max_results": None,
        "limit_buckets": (),
        "credit_ratio": 1.0,
        "is_write": False,
    }
    defaults.update(kw)
    return ActionSpec(**defaults)


_SPECS: list[ActionSpec] = [
    _spec(
        slug="linkedin-extract-people",
        name="Extract LinkedIn profile",
        description="A person's full profile (optionally experiences, educations, skills).",
        input_field="linkedin_profile_url",
        input_kind="profile",
        parameters_model=ExtractPeopleParams,
        output_fields=EXTRACT_PERSON,
        identity="any",
        managed_allowed=True,
        limit_buckets=("LK_PROFILE_ENRICHMENTS",),
        step=_extract_people,
    ),
    _spec(
        slug="linkedin-extract-company",
        name="Extract LinkedIn company",
        description="A company page's details.",
        input_field="linkedin_company_url",
        input_kind="company",
        output_fields=COMPANY,
        identity="any",
        managed_allowed=True,
        limit_buckets=("LK_PROFILE_ENRICHMENTS",),
        step=_extract_company,
    ),
    _spec(
        slug="linkedin-search-people",
        name="Search LinkedIn people",
        description="People matching a LinkedIn people-search URL (keywords and filters), paginated.",
        input_field="linkedin_people_search_url",
        input_kind="people_search",
        parameters_model=PagedParams,
        output_fields=SEARCH_PERSON,
        identity="any",
        managed_allowed=True,
        page_size=10,
        max_results=1000,
        limit_buckets=("LK_SEARCH_RESULTS",),
        credit_ratio=0.1,
        step=_offset_paged(_search("people"), 10, "LK_SEARCH_RESULTS"),
    ),
    _spec(
        slug="linkedin-search-companies",
        name="Search LinkedIn companies",
        description="Companies matching a LinkedIn company-search URL, paginated.",
        input_field="linkedin_company_search_url",
        input_kind="company_search",
        parameters_model=PagedParams,
        output_fields=COMPANY,
        identity="any",
        managed_allowed=True,
        page_size=10,
        max_results=1000,
        limit_buckets=("LK_SEARCH_RESULTS",),
        credit_ratio=0.1,
        step=_offset_paged(_search("companies"), 10, "LK_SEARCH_RESULTS"),
    ),
    _spec(
        slug="salesnavigator-search-people",
        name="Search Sales Navigator people",
        description="People matching a Sales Navigator search URL (needs a Sales Navigator account).",
        input_field="sales_navigator_profile_search_url",
        input_kind="sales_search",
        parameters_model=PagedParams,
        output_fields=SEARCH_PERSON,
        identity="any",
        managed_allowed=True,
        required_level="sales_navigator",
        page_size=25,
        max_results=2500,
        limit_buckets=("LK_SEARCH_RESULTS",),
        credit_ratio=0.1,
        step=_offset_paged(_search("sales_people"), 25, "LK_SEARCH_RESULTS"),
    ),
    _spec(
        slug="linkedin-me",
        name="My LinkedIn profile",
        description="The connected account's own profile.",
        input_field=None,
        output_fields=ME,
        identity="direct_one",
        step=_me,
    ),
    _spec(
        slug="linkedin-extract-connections",
        name="Extract connections",
        description="The account's first-degree connections, paginated.",
        input_field=None,
        parameters_model=PagedParams,
        output_fields=PERSON,
        identity="direct_one",
        page_size=40,
        max_results=100000,
        limit_buckets=("LK_PROFILE_ENRICHMENTS",),
        credit_ratio=0.1,
        step=_offset_paged(_fetch_connections, 40, "LK_PROFILE_ENRICHMENTS"),
    ),
    _spec(
        slug="linkedin-extract-conversations",
        name="Extract conversations",
        description="The account's messaging conversations, newest first, paged by cursor.",
        input_field=None,
        parameters_model=ConversationsParams,
        output_fields=CONVERSATION,
        identity="direct_one",
        page_size=20,
        max_results=10000,
        credit_ratio=0.1,
        step=_cursor_paged(_fetch_conversations, 20),
    ),
    _spec(
        slug="linkedin-extract-messages",
        name="Extract messages of a conversation",
        description="The messages of one conversation, newest first, paged by cursor.",
        input_field="linkedin_thread_url",
        input_kind="thread",
        parameters_model=PagedParams,
        output_fields=THREAD_MESSAGE,
        identity="direct_one",
        page_size=20,
        max_results=10000,
        credit_ratio=0.1,
        step=_cursor_paged(_fetch_messages, 20),
    ),
    _spec(
        slug="linkedin-extract-received-invitations",
        name="Extract received invitations",
        description="Invitations the account received (with the secret needed to accept them).",
        input_field=None,
        parameters_model=PagedParams,
        output_fields=INVITATION,
        identity="direct_one",
        page_size=100,
        max_results=10000,
        credit_ratio=0.1,
        step=_offset_paged(_fetch_received, 100, None),
    ),
    _spec(
        slug="linkedin-extract-sent-invitations",
        name="Extract sent invitations",
        description="Invitations the account sent that are still pending.",
        input_field=None,
        parameters_model=PagedParams,
        output_fields=INVITATION,
        identity="direct_one",
        page_size=100,
        max_results=10000,
        credit_ratio=0.1,
        step=_offset_paged(_fetch_sent, 100, None),
    ),
    _spec(
        slug="linkedin-visit-profile",
        name="Visit profile",
        description="Visit a profile (shows in the person's 'who viewed your profile').",
        input_field="linkedin_profile_url",
        input_kind="profile",
        output_fields=VISIT,
        identity="direct",
        limit_buckets=("LK_PROFILE_VISITS",),
        is_write=True,
        unkeyed_write=True,
        pacing="visit",
        step=_visit,
    ),
    _spec(
        slug="linkedin-connect-profile",
        name="Send connection request",
        description="Invite a person to connect, optionally with a note (≤ 300 characters).",
        input_field="linkedin_profile_url",
        input_kind="profile",
        parameters_model=ConnectParams,
        output_fields=CONNECT,
        identity="direct",
        limit_buckets=("LK_CONNECTION_REQUESTS", "LK_CONNECTION_REQUESTS_WEEKLY", "LK_CONNECTION_NOTES"),
        is_write=True,
        pacing="invitation",
        step=_connect,
    ),
    _spec(
        slug="linkedin-message-profile",
        name="Send message",
        description="Message a first-degree connection (exactly once per input).",
        input_field="linkedin_profile_url",
        input_kind="profile",
        parameters_model=MessageParams,
        output_fields=MESSAGE,
        identity="direct",
        limit_buckets=("LK_MESSAGES_SENT",),
        is_write=True,
        pacing="message",
        step=_message,
    ),
    _spec(
        slug="salesnavigator-inmail-profile",
        name="Send InMail",
        description="Send an InMail (premium or Sales Navigator accounts).",
        input_field="linkedin_profile_url",
        input_kind="profile",
        parameters_model=InMailParams,
        output_fields=MESSAGE,
        identity="direct",
        required_level="premium",
        limit_buckets=("LK_INMAILS",),
        is_write=True,
        pacing="message",
        step=_inmail,
    ),
    _spec(
        slug="linkedin-accept-invitation",
        name="Accept invitation",
        description="Accept a received invitation (URN and secret from extract-received-invitations).",
        input_field="linkedin_invitation_urn",
        input_kind="invitation",
        output_fields=INVITATION_ACTION,
        identity="direct_one",
        limit_buckets=("LK_INVITATION_ACTIONS",),
        is_write=True,
        pacing="invitation_action",
        step=_accept,
        extra_input_fields=("invitation_secret",),
    ),
    _spec(
        slug="linkedin-withdraw-invitation",
        name="Withdraw invitation",
        description="Withdraw a pending invitation the account sent.",
        input_field="linkedin_invitation_urn",
        input_kind="invitation",
        output_fields=INVITATION_ACTION,
        identity="direct_one",
        limit_buckets=("LK_INVITATION_ACTIONS",),
        is_write=True,
        pacing="invitation_action",
        step=_withdraw,
    ),
]

CATALOG: dict[str, ActionSpec] = {spec.slug: spec for spec in _SPECS}


def units_per_step(spec: ActionSpec, parameters: dict[str, Any]) -> dict[str, int]:
    """What one step (one page, or one write) asks of the account's limit buckets.

    A listing asks for a page's worth of results (it may be granted fewer: the page is cut); a write asks
    for one of each of its buckets — LK_CONNECTION_NOTES only when the invitation carries a note.
    """
    units: dict[str, int] = {}
    for bucket in spec.limit_buckets:
        if bucket == "LK_CONNECTION_NOTES" and not parameters.get("message"):
            continue
        units[bucket] = spec.page_size if (spec.page_size and not spec.is_write) else 1
    return units


LEVEL_RANK = {"classic": 0, "premium": 1, "sales_navigator": 2}


def level_allows(level: str | None, required: str | None) -> bool:
    if required is None:
        return True
    return LEVEL_RANK.get(level or "classic", 0) >= LEVEL_RANK[required]


# --- input and parameter validation ----------------------------------------------------------------------

_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "profile": urls.normalize_profile,
    "company": urls.normalize_company,
    "people_search": lambda v: urls.normalize_search(v, "people"),
    "company_search": lambda v: urls.normalize_search(v, "companies"),
    "sales_search": lambda v: urls.normalize_search(v, "sales_people"),
    "thread": urls.normalize_thread,
    "invitation": urls.normalize_invitation_urn,
}

CUSTOM_DATA_MAX_BYTES = 4096


@dataclass
class NormalizedInput:
    input: dict[str, Any]
    target_key: str
    custom_data: dict[str, Any] | None


class InputError(ValueError):
    """A bad input or parameter: `field` names the first; `errors` lists every one found (field, message)."""

    def __init__(self, field: str, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.errors = errors or [{"field": field, "message": message}]


def _field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """The contract's path style (API.md §1): `parameters.sections[0]`, not `parameters.sections.0`."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def normalize_input(spec: ActionSpec, raw: Any, where: str) -> NormalizedInput:
    """Validate one input object (`where` is its field path, e.g. `inputs[17]`); raise InputError."""
    import json

    if not isinstance(raw, dict):
        raise InputError(where, "must be an object")
    allowed = {f for f in (spec.input_field, *spec.extra_input_fields) if f} | {"custom_data"}
    for key in raw:
        if key not in allowed:
            raise InputError(f"{where}.{key}", "unknown field")
    custom = raw.get("custom_data")
    if custom is not None:
        if not isinstance(custom, dict):
            raise InputError(f"{where}.custom_data", "must be a JSON object")
        if len(json.dumps(custom, ensure_ascii=False).encode()) > CUSTOM_DATA_MAX_BYTES:
            raise InputError(f"{where}.custom_data", "must be at most 4 KB")
    if spec.input_field is None:
        return NormalizedInput(input={}, target_key="self", custom_data=custom)
    value = raw.get(spec.input_field)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}.{spec.input_field}", "is required (a string)")
    assert spec.input_kind is not None
    try:
        normalized = _NORMALIZERS[spec.input_kind](value)
    except ValueError as exc:
        raise InputError(f"{where}.{spec.input_field}", str(exc)) from None
    result: dict[str, Any] = {spec.input_field: normalized}
    for extra in spec.extra_input_fields:
        if extra in raw:
            if not isinstance(raw[extra], str):
                raise InputError(f"{where}.{extra}", "must be a string")
            if len(raw[extra]) > urls.MAX_INPUT_CHARS:
                raise InputError(f"{where}.{extra}", f"must be at most {urls.MAX_INPUT_CHARS} characters")
            result[extra] = raw[extra]
    return NormalizedInput(input=result, target_key=normalized, custom_data=custom)


def validate_parameters(spec: ActionSpec, raw: Any) -> dict[str, Any]:
    """Validate `parameters`; raise InputError naming `parameters.<field>`. max_results is clamped."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError("parameters", "must be an object")
    try:
        model = spec.parameters_model.model_validate(raw)
    except ValidationError as exc:
        # Every bad parameter is named at once (a client fixes them in one go), in the contract's path style.
        errors = [
            {
                "field": _field_path("parameters", tuple(e["loc"])),
                "message": "unknown field"
                if e["type"] == "extra_forbidden"
                else str(e["msg"]).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        raise InputError(errors[0]["field"], errors[0]["message"], errors) from None
    params = model.model_dump(exclude_none=True)
    if spec.max_results is not None:
        params["max_results"] = min(int(params.get("max_results") or spec.max_results), spec.max_results)
    return params


def effective_max_results(spec: ActionSpec, parameters: dict[str, Any]) -> int:
    if spec.max_results is None:
        return 1
    return int(parameters.get("max_results") or spec.max_results)
