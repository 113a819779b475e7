"""Creating runs: validation in the contract's order, identity selection, persistence (API.md §4, §5).

Order of checks: body (400) → unknown identity uid (404) → mode and arity (400); live runs then check
level (424 SN_ACCOUNT_UPGRADE) → integration state (424) → egress (424). A request with any invalid part
is rejected whole and stores nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import insert
from sqlmodel import Session, col, select

from api.run_bodies import AsyncRunBody, LiveRunBody
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


def validation_error(errors: list[dict[str, str]], *, label: str = "BAD_INPUT") -> ApiError:
    errors = errors[:MAX_VALIDATION_ERRORS]
    first = errors[0]
    message = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return ApiError(label, message, params={"validation_errors": errors})


def parse_body(model: type[ModelT], raw: bytes) -> ModelT:
    """Parse a JSON body into a strict model, or raise the contract's 400."""
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise validation_error([{"field": "body", "message": "malformed JSON"}]) from None
    if not isinstance(data, dict):
        raise validation_error([{"field": "body", "message": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "field": _loc_to_field(tuple(e["loc"])),
                "message": "unknown field" if e["type"] == "extra_forbidden" else e["msg"],
            }
            for e in exc.errors()
        ]
        label = (
            "BAD_PARAMETERS" if all(err["field"].startswith("parameters") for err in errors) else "BAD_INPUT"
        )
        raise validation_error(errors, label=label) from None


def check_parameters(spec: ActionSpec, raw: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return validate_parameters(spec, raw)
    except InputError as exc:
        raise validation_error(
            [{"field": exc.field, "message": exc.message}], label="BAD_PARAMETERS"
        ) from None


def normalize_inputs(spec: ActionSpec, raw_inputs: list[Any]) -> list[NormalizedInput]:
    """Validate every input; report up to 100 bad ones at once."""
    errors: list[dict[str, str]] = []
    out: list[NormalizedInput] = []
    for index, raw in enumerate(raw_inputs):
        try:
            out.append(normalize_input(spec, raw, f"inputs[{index}]"))
        except InputError as exc:
            errors.append({"field": exc.field, "message": exc.message})
            if len(errors) >= MAX_VALIDATION_ERRORS:
                break
    if errors:
        raise validation_error(errors)
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
        # The managed pool arrives with Smart Limits; until then there is no platform account to select.
        raise ApiError(
            "NO_VALID_ACCOUNT_CONFIGURED", "no managed account pool is configured on this platform"
        )
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


def choose_live_identity(
    session: Session, workspace_uid: str, spec: ActionSpec, selected: SelectedIdentities, settings: Settings
) -> LiveTarget:
    """Level → integration state → egress, for the identity a live call runs as."""
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
        return LiveTarget(usable[0].identity_uid, usable[0])
    by_identity = {i.identity_uid: i for i in integrations}
    candidates = [by_identity.get(uid) for uid in selected.identity_ids]
    if all(c is not None and not level_allows(c.level, spec.required_level) for c in candidates):
        raise ApiError("SN_ACCOUNT_UPGRADE", f"{spec.slug} needs a {spec.required_level} LinkedIn account")
    for candidate in candidates:
        if (
            candidate is not None
            and candidate.status == "VALID"
            and level_allows(candidate.level, spec.required_level)
        ):
            if settings.egress_required:
                identity = session.get(Identity, candidate.identity_uid)
                if identity is None or identity.egress_proxy_id is None:
                    raise ApiError("NO_EGRESS_AVAILABLE", "egress is required and the identity has no proxy")
            return LiveTarget(candidate.identity_uid, candidate)
    statuses = {c.status for c in candidates if c is not None}
    if "RESTRICTED" in statuses and "INVALID" not in statuses:
        raise ApiError("INTEGRATION_RESTRICTED", "the identity's LinkedIn account is restricted")
    raise ApiError(
        "INTEGRATION_INVALID", "the identity has no valid LinkedIn session; connect or reconnect it"
    )


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
    for uid in identity_ids:
        session.add(RunIdentity(run_uid=run.uid, identity_uid=uid))
    chunk = 5000
    for start in range(0, len(rows), chunk):
        session.execute(insert(RunInput), rows[start : start + chunk])
    return run
