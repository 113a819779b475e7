"""Run callbacks (API.md §5): POSTs to a run's `callback.url`, signed like webhook events.

`on: "all"` hands out new output rows in posts of at most 100 while the run goes, and a final post with
`data: []`; `on: "final"` sends only that final post. Each post advances `Run.callback_sequence` (and a data
post `Run.callback_cursor`, the highest `run_outputs.id` handed out) in the same transaction that creates
its delivery, so calling again after a crash neither skips nor repeats rows. A final post is made once per
settled state: when the previous post is a final one showing the same run state, there is nothing new to
say (an activity retry, or a second settle of the same state). Callback uids are deterministic (run uid +
sequence), and a delivery created but not yet started is started by the next call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlmodel import Session, col, select

from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Delivery, Run, RunOutput
from edgewise.timeutil import iso_z
from edgewise.webhooks import create_delivery, deterministic_id, encode_body, start_delivery

BATCH_SIZE = 100


def output_row(output: RunOutput, *, managed: bool = False) -> dict[str, Any]:
    """An output row as the API shows it: the action's output fields plus where it came from (a managed
    run's pool account stays internal)."""
    return {
        **(output.data or {}),
        "run_input_uid": output.run_input_uid,
        "identity_uid": None if managed else output.identity_uid,
        "custom_data": output.custom_data,
        "extracted_at": iso_z(output.extracted_at),
    }


def _run_summary(run: Run) -> dict[str, Any]:
    return {
        "uid": run.uid,
        "status": run.status,
        "action_name": run.action_name,
        "output_count": run.output_count,
        "inputs_done": run.inputs_done,
        "inputs_count": run.inputs_count,
    }


def _run_error(run: Run) -> dict[str, Any] | None:
    if not run.last_error:
        return None
    return {"error_label": run.last_error.get("error_label"), "message": run.last_error.get("message")}


def _body(run: Run, callback_uid: str, sequence: int, batch_uid: str | None, data: list[dict[str, Any]],
          final: bool) -> bytes:
    return encode_body({
        "callback_uid": callback_uid,
        "sequence": sequence,
        "run": _run_summary(run),
        "batch_uid": batch_uid,
        "data": data,
        "error": _run_error(run) if final else None,
    })


def _lock_run(session: Session, run_uid: str) -> Run | None:
    return session.exec(select(Run).where(Run.uid == run_uid).with_for_update()).one_or_none()


def _caller_headers(deps: ActivityDeps, run: Run) -> dict[str, str]:
    if not run.callback_headers_enc:
        return {}
    raw = deps.keyring.decrypt_json(run.callback_headers_enc, associated=run.uid) or {}
    return {str(k): str(v) for k, v in raw.items()}


def _next_data_post(deps: ActivityDeps, run_uid: str) -> str | bool | None:
    """Create the delivery of the next ≤100 unsent rows. Returns its uid, False when nothing is left,
    None when the run has no callback. One transaction: the delivery and the cursor move together."""
    with session_scope(deps.engine) as session:
        run = _lock_run(session, run_uid)
        if run is None or not run.callback_url:
            return None
        rows = session.exec(
            select(RunOutput)
            .where(RunOutput.run_uid == run_uid, col(RunOutput.id) > run.callback_cursor)
            .order_by(col(RunOutput.id))
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return False
        sequence = run.callback_sequence + 1
        callback_uid = deterministic_id("callback", run_uid, sequence)
        batch_uid = deterministic_id("callback-batch", run_uid, sequence)
        managed = run.identity_mode == "managed"
        data = [output_row(r, managed=managed) for r in rows]
        body = _body(run, callback_uid, sequence, batch_uid, data, final=False)
        delivery = create_delivery(
            session, deps.keyring, workspace_uid=run.workspace_uid, kind="callback", webhook_id=callback_uid,
            url=run.callback_url, body=body, headers=_caller_headers(deps, run), run_uid=run_uid,
        )
        run.callback_cursor = int(rows[-1].id or 0)
        run.callback_sequence = sequence
        session.add(run)
        return delivery.uid


def _already_said(session: Session, run: Run) -> bool:
    """Is the run's latest post a final one showing the run as it is now?"""
    if run.callback_sequence <= 0:
        return False
    latest = session.exec(
        select(Delivery.body).where(
            Delivery.run_uid == run.uid,
            Delivery.webhook_id == deterministic_id("callback", run.uid, run.callback_sequence),
        )
    ).first()
    if latest is None:
        return False
    document = json.loads(bytes(latest))
    return bool(
        document.get("data") == []
        and document.get("run") == _run_summary(run)
        and document.get("error") == _run_error(run)
    )


def _final_post(deps: ActivityDeps, run_uid: str) -> str | None:
    """Create the final post (`data: []`); None when there is none to create."""
    with session_scope(deps.engine) as session:
        run = _lock_run(session, run_uid)
        if run is None or not run.callback_url or _already_said(session, run):
            return None
        sequence = run.callback_sequence + 1
        callback_uid = deterministic_id("callback", run_uid, sequence)
        body = _body(run, callback_uid, sequence, None, [], final=True)
        delivery = create_delivery(
            session, deps.keyring, workspace_uid=run.workspace_uid, kind="callback", webhook_id=callback_uid,
            url=run.callback_url, body=body, headers=_caller_headers(deps, run), run_uid=run_uid,
        )
        run.callback_sequence = sequence
        session.add(run)
        return delivery.uid


def _unstarted(deps: ActivityDeps, run_uid: str) -> list[str]:
    """Callback deliveries of the run never attempted (a crash may have come between commit and start)."""
    with session_scope(deps.engine) as session:
        return list(session.exec(
            select(Delivery.uid).where(
                Delivery.run_uid == run_uid, Delivery.kind == "callback", Delivery.status == "PENDING",
                Delivery.attempts == 0, Delivery.replays == 0,
            ).order_by(col(Delivery.created_at))
        ).all())


def _load_run(deps: ActivityDeps, run_uid: str) -> Run | None:
    with session_scope(deps.engine) as session:
        return session.get(Run, run_uid)


async def emit_run_callbacks(deps: ActivityDeps, run_uid: str, *, final: bool) -> int:
    """Create (and start) the run's due callback deliveries; return how many were created.

    `final=True` when the run has become terminal or STOPPED: remaining rows go out (on "all"), then the
    final post with `data: []`. Safe to call again after a crash or from a retried activity.
    """
    run = await asyncio.to_thread(_load_run, deps, run_uid)
    if run is None or not run.callback_url:
        return 0
    created = 0
    started: set[str] = set()
    if run.callback_on != "final":
        while True:
            uid = await asyncio.to_thread(_next_data_post, deps, run_uid)
            if not isinstance(uid, str):
                break
            created += 1
            await start_delivery(deps.client, deps.settings, uid)
            started.add(uid)
    if final:
        uid = await asyncio.to_thread(_final_post, deps, run_uid)
        if uid is not None:
            created += 1
    # Start whatever is not started yet (this call's final post, and any a crash left behind); a delivery
    # whose workflow exists already is left alone, so nothing goes out twice.
    for pending in await asyncio.to_thread(_unstarted, deps, run_uid):
        if pending not in started:
            await start_delivery(deps.client, deps.settings, pending)
    return created
