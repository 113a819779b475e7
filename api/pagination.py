"""Offset pagination of lists (API.md §1): `limit` 1–100 (default 20), `offset` ≥ 0, `sort=created_at` or
`-created_at` (default: newest first); the total goes in header `X-Total-Count`.

    @router.get("", response_model=list[ThingOut], responses=LIST_RESPONSES)
    def list_things(page: PageDep, member: CurrentMember, session: DbSession, response: Response):
        statement = select(Thing).where(Thing.workspace_uid == member.workspace_uid)
        rows = paginate(session, statement, page, response, created_at=Thing.created_at, tiebreak=Thing.uid)
        return [thing_out(t) for t in rows]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# Bounded so a huge value is a 400, not a database overflow.
MAX_OFFSET = 2**31 - 1

SortOrder = Literal["created_at", "-created_at"]


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: SortOrder = "-created_at"

    @property
    def newest_first(self) -> bool:
        return self.sort == "-created_at"


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1–100")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")] = 0,
    sort: Annotated[SortOrder, Query(description="`-created_at` (newest first, default) or `created_at`")] = (
        "-created_at"
    ),
) -> Page:
    return Page(limit=limit, offset=offset, sort=sort)


PageDep = Annotated[Page, Depends(page_params)]

TOTAL_HEADER = "X-Total-Count"

# For `responses=` on list routes: documents the total header on the 200.
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            TOTAL_HEADER: {"description": "Total number of matching objects", "schema": {"type": "integer"}}
        }
    }
}


def paginate(
    session: Session,
    statement: SelectOfScalar[Any],
    page: Page,
    response: Response,
    *,
    created_at: Any,
    tiebreak: Any | None = None,
) -> Sequence[Any]:
    """Run `statement` for one page in the requested order, setting `X-Total-Count` on `response`.

    `created_at` is the model's creation column; `tiebreak` (e.g. the uid) keeps the order stable between
    rows created in the same instant, so pages never repeat or skip a row.
    """
    total = session.exec(select(func.count()).select_from(statement.order_by(None).subquery())).one()
    response.headers[TOTAL_HEADER] = str(int(total))
    order: list[ColumnElement[Any]] = [created_at.desc() if page.newest_first else created_at.asc()]
    if tiebreak is not None:
        order.append(tiebreak.desc() if page.newest_first else tiebreak.asc())
    return session.exec(statement.order_by(*order).offset(page.offset).limit(page.limit)).all()
