"""Creating runs: validation in the contract's order, identity selection, persistence (API.md §4, §5).

Order of checks: body (400) → unknown identity uid (404) → mode and arity (400); live runs then check
level (424 SN_ACCOUNT_UPGRADE) → integration state (424) → egress (424). A request with any invalid part
is rejected whole and stores nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import insert
from sqlmodel import Session, col, select

from api.run_bodies import AsyncRunBody, LiveRunBody, NulCharacter, no_nul
from db.models import Identity, Integration, Run, RunIdentity, RunInput, new_uid
from edgewise.catalog import (
    ActionSpec,
    InputError,
    NormalizedInput,
    level_allows,
    normalize_input,
    validate_parameters,
)
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.errors import ApiError
from edgewise.timeutil import utcnow

MAX_VALIDATION_ERRORS = 100
ModelT = TypeVar("ModelT", bound=BaseModel)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def validation_error(
    errors: list[dict[str, str]], *, label: str = "BAD_INPUT", total: int | None = None
) -> ApiError:
    """The contract's 400: up to 100 `validation_errors`; the message counts them all."""
    total = len(errors) if total is None else total
    errors = errors[:MAX_VALIDATION_ERRORS]
    first = errors[0]
    message = f"{first['field']}: {first['message']}"
    if total > 1:
        message += f" (and {total - 1} more)"
    return ApiError(label, message, params={"validation_errors": errors})


def load_json(raw: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, bounded nesting, valid UTF-8) — the same rules as every other route."""
    from api.middleware import load_json_body

    if not raw.strip():
        raise validation_error([{"field": "body", "message": "a JSON object is required"}])
    return load_json_body(raw)


def _clean_message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_body(model: type[ModelT], raw: bytes) -> ModelT:
    """Parse a JSON body into a strict model, or raise the contract's 400. No NUL character anywhere."""
    data = load_json(raw)
    if not isinstance(data, dict):
        raise validation_error([{"field": "body", "message": "must be a JSON object"}])
    for key in ("parameters", "input", "inputs"):
        if key in data:
            try:
                no_nul(data[key], key)
            except NulCharacter as exc:
                label = "BAD_PARAMETERS" if key == "parameters" else "BAD_INPUT"
                error = {"field": exc.field, "message": "must not contain NUL characters"}
                raise validation_error([error], label=label) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": _loc_to_field(tuple(e["loc"])), "message": _clean_message(e)} for e in exc.errors()
        ]
        label = (
            "BAD_PARAMETERS" if all(err["field"].startswith("parameters") for err in errors) else "BAD_INPUT"
        )
        raise validation_error(errors, label=label) from None


def check_parameters(spec: ActionSpec, raw: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return validate_parameters(spec, raw)
    except InputError as exc:
        raise validation_error(exc.errors, label="BAD_PARAMETERS") from None


def normalize_inputs(spec: ActionSpec, raw_inputs: list[Any]) -> list[NormalizedInput]:
    """Validate every input; report up to 100 bad ones (and how many there are in all)."""
    errors: list[dict[str, str]] = []
    total = 0
    out: list[NormalizedInput] = []
    for index, raw in enumerate(raw_inputs):
        try:
            out.append(normalize_input(spec, raw, f"inputs[{index}]"))
        except InputError as exc:
            total += 1
            if len(errors) < MAX_VALIDATION_ERRORS:
                errors.append({"field": exc.field, "message": exc.message})
    if errors:
        raise validation_error(errors, total=total)
    return out


@dataclass
class SelectedIdentities:
    identity_ids: list[str]
    mode: str


def check_identities(
    session: Session, workspace_uid: str, spec: ActionSpec, mode: str, identity_ids: list[str] | None
) -> SelectedIdentities:
    """404 for an unknown identity, then 400 for a mode or arity the action does not allow."""
    ids = list(dict.fromkeys(identity_ids or []))
    if ids:
        found = set(
            session.exec(
                select(Identity.uid).where(
                    col(Identity.uid).in_(ids),
                    Identity.workspace_uid == workspace_uid,
                    col(Identity.deleted_at).is_(None),
                )
            ).all()
        )
        missing = [uid for uid in ids if uid not in found]
        if missing:
            raise ApiError(
                "NOT_FOUND", f"identity {missing[0]} not found", params={"identity_uid": missing[0]}
            )
    if mode == "managed":
        if not spec.managed_allowed:
            raise validation_error(
                [{"field": "identity_mode", "message": f"{spec.slug} cannot run in managed mode"}]
            )
        if ids:
            raise validation_error(
                [{"field": "identity_ids", "message": "managed mode uses the platform's accounts; omit it"}]
            )
        # The pool's accounts are chosen later: live now (choose_live_identity), async at plan time
        # (activities/run_store.lanes_for_run). Their uids never become the customer's identity_ids.
        return SelectedIdentities([], mode)
    if mode == "auto":
        if spec.identity == "direct_one":
            raise validation_error(
                [{"field": "identity_mode", "message": f"{spec.slug} needs one direct identity"}]
            )
        return SelectedIdentities(ids, mode)
    if not ids:
        raise validation_error(
            [{"field": "identity_ids", "message": "direct mode needs at least one identity"}]
        )
    if spec.identity == "direct_one" and len(ids) != 1:
        raise validation_error(
            [{"field": "identity_ids", "message": f"{spec.slug} takes exactly one identity"}]
        )
    return SelectedIdentities(ids, mode)


@dataclass
class LiveTarget:
    identity_uid: str
    integration: Integration
    # Every identity that could run this call (VALID, right level, egress): the route picks the one with the
    # most remaining budget when there are several.
    usable: list[LiveTarget] = field(default_factory=list)


def choose_live_identity(
    session: Session, workspace_uid: str, spec: ActionSpec, selected: SelectedIdentities, settings: Settings
) -> LiveTarget:
    """Level → integration state → egress, for the identity a live call runs as."""
    if selected.mode == "managed":
        return _choose_managed(session, spec, selected, settings)
    query = (
        select(Integration)
        .join(Identity, col(Identity.uid) == col(Integration.identity_uid))
        .where(
            Integration.workspace_uid == workspace_uid,
            col(Integration.deleted_at).is_(None),
            col(Identity.deleted_at).is_(None),
        )
    )
    if selected.identity_ids:
        query = query.where(col(Integration.identity_uid).in_(selected.identity_ids))
    integrations = list(session.exec(query).all())
    if selected.mode == "auto":
        usable = [
            i for i in integrations if i.status == "VALID" and level_allows(i.level, spec.required_level)
        ]
        if not usable:
            raise ApiError(
                "NO_VALID_ACCOUNT_CONFIGURED",
                "no identity has a VALID LinkedIn integration of the needed level",
            )
        usable.sort(key=lambda i: i.identity_uid)
        targets = [LiveTarget(i.identity_uid, i) for i in usable]
        return LiveTarget(usable[0].identity_uid, usable[0], targets)
    by_identity = {i.identity_uid: i for i in integrations}
    candidates = [by_identity.get(uid) for uid in selected.identity_ids]
    if all(c is not None and not level_allows(c.level, spec.required_level) for c in candidates):
        raise ApiError("SN_ACCOUNT_UPGRADE", f"{spec.slug} needs a {spec.required_level} LinkedIn account")
    usable_targets: list[LiveTarget] = []
    without_egress = 0
    for candidate in candidates:
        if (
            candidate is None
            or candidate.status != "VALID"
            or not level_allows(candidate.level, spec.required_level)
        ):
            continue
        if settings.egress_required:
            identity = session.get(Identity, candidate.identity_uid)
            if identity is None or identity.egress_proxy_id is None:
                without_egress += 1
                continue
        usable_targets.append(LiveTarget(candidate.identity_uid, candidate))
    if usable_targets:
        first = usable_targets[0]
        return LiveTarget(first.identity_uid, first.integration, usable_targets)
    if without_egress:
        raise ApiError("NO_EGRESS_AVAILABLE", "egress is required and the identity has no proxy")
    statuses = {c.status for c in candidates if c is not None}
    if "RESTRICTED" in statuses and "INVALID" not in statuses:
        raise ApiError("INTEGRATION_RESTRICTED", "the identity's LinkedIn account is restricted")
    raise ApiError(
        "INTEGRATION_INVALID", "the identity has no valid LinkedIn session; connect or reconnect it"
    )


def _choose_managed(
    session: Session, spec: ActionSpec, selected: SelectedIdentities, settings: Settings
) -> LiveTarget:
    """A live managed call: one of the pool's VALID accounts of the needed level (`identity_ids` given
    only when a page cursor pins the pool account of the first page)."""
    from edgewise.managed import pool_integrations

    usable = pool_integrations(session, spec.required_level)
    if selected.identity_ids:
        usable = [i for i in usable if i.identity_uid in selected.identity_ids]
    if not usable:
        raise ApiError(
            "NO_VALID_ACCOUNT_CONFIGURED",
            f"no account of the platform's managed pool can run {spec.slug} now",
        )
    if settings.egress_required:
        proxied = set(
            session.exec(
                select(Identity.uid).where(
                    col(Identity.uid).in_([i.identity_uid for i in usable]),
                    col(Identity.egress_proxy_id).is_not(None),
                )
            ).all()
        )
        usable = [i for i in usable if i.identity_uid in proxied]
        if not usable:
            raise ApiError("NO_EGRESS_AVAILABLE", "egress is required and no managed account has a proxy")
    # PENDING-LIMITS: most remaining budget first (as direct mode with several identities).
    return LiveTarget(usable[0].identity_uid, usable[0])


def create_run(
    session: Session,
    keyring: Keyring,
    *,
    workspace_uid: str,
    spec: ActionSpec,
    mode: str,
    body: LiveRunBody | AsyncRunBody,
    identity_ids: list[str],
    parameters: dict[str, Any],
    inputs: list[NormalizedInput],
    live_page: dict[str, Any] | None = None,
    callback_url: str | None = None,
    run_uid: str | None = None,
) -> Run:
    """Insert the run, its identities and its (de-duplicated) inputs in the caller's transaction."""
    now = utcnow()
    run = Run(
        uid=run_uid or new_uid(),
        workspace_uid=workspace_uid,
        action_name=spec.slug,
        execution_mode="LIVE" if isinstance(body, LiveRunBody) else "ASYNC",
        status="QUEUED",
        identity_mode=mode,
        identity_ids=identity_ids,
        parameters=parameters,
        inputs_count=len(inputs),
        live_page=live_page,
        created_at=now,
        updated_at=now,
    )
    if isinstance(body, AsyncRunBody):
        run.label = body.label
        if body.callback is not None:
            run.callback_url = callback_url
            run.callback_on = body.callback.on
            if body.callback.headers:
                run.callback_headers_enc = keyring.encrypt_json(body.callback.headers, associated=run.uid)
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(inputs):
        if item.target_key in seen and spec.input_field is not None:
            continue
        seen.add(item.target_key)
        rows.append(
            {
                "uid": new_uid(),
                "run_uid": run.uid,
                "index": index,
                "status": "QUEUED",
                "input": item.input,
                "target_key": item.target_key if spec.input_field is not None else f"self:{index}",
                "custom_data": item.custom_data,
                "identity_uid": identity_ids[0] if isinstance(body, LiveRunBody) else None,
            }
        )
    run.inputs_total = len(rows)
    session.add(run)
    session.flush()
    if mode != "managed":  # a managed run's accounts are the platform's, not the workspace's identities
        for uid in identity_ids:
            session.add(RunIdentity(run_uid=run.uid, identity_uid=uid))
    insert_inputs(session, rows)
    return run


_INPUT_COLUMNS = (
    "uid",
    "run_uid",
    "index",
    "status",
    "input",
    "target_key",
    "custom_data",
    "identity_uid",
    "output_count",
)


def insert_inputs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert input rows in the caller's transaction: COPY on PostgreSQL (100,000 rows in well under a
    second), batched executemany elsewhere."""
    bind = session.connection()
    if bind.dialect.name == "postgresql" and len(rows) > 200:
        raw = bind.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY run_inputs ({', '.join(_INPUT_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        (
                            row["uid"],
                            row["run_uid"],
                            row["index"],
                            row["status"],
                            json.dumps(row["input"]),
                            row["target_key"],
                            None if row["custom_data"] is None else json.dumps(row["custom_data"]),
                            row["identity_uid"],
                            0,
                        )
                    )
        return
    chunk = 5000
    for start in range(0, len(rows), chunk):
        session.execute(insert(RunInput), rows[start : start + chunk])
