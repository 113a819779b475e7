"""JSON shapes of runs, their input rows and output rows (API.md §5)."""

from __future__ import annotations

from typing import Any

from db.models import Run, RunInput, RunOutput
from edgewise.timeutil import iso_z


def credits(cents: int) -> float:
    return round(cents / 100, 2)


def run_out(run: Run) -> dict[str, Any]:
    return {
        "uid": run.uid,
        "action_name": run.action_name,
        "execution_mode": run.execution_mode,
        "status": run.status,
        "label": run.label,
        "identity_mode": run.identity_mode,
        # A managed run's accounts are the platform's (edgewise/managed.py): their uids stay internal.
        "identity_ids": [] if run.identity_mode == "managed" else list(run.identity_ids),
        "parameters": run.parameters,
        "callback": {"url": run.callback_url, "on": run.callback_on} if run.callback_url else None,
        "inputs_count": run.inputs_count,
        "inputs_done": run.inputs_done,
        "output_count": run.output_count,
        "credits_used": credits(run.credits_used_cents),
        "warnings": list(run.warnings),
        "last_error": run.last_error,
        "postponed_until": iso_z(run.postponed_until),
        "schedule_uid": run.schedule_uid,
        "created_at": iso_z(run.created_at),
        "started_at": iso_z(run.started_at),
        "finished_at": iso_z(run.finished_at),
        "updated_at": iso_z(run.updated_at),
    }


def run_status_out(run: Run) -> dict[str, Any]:
    return {
        "uid": run.uid,
        "status": run.status,
        "inputs_done": run.inputs_done,
        "inputs_count": run.inputs_count,
        "output_count": run.output_count,
        "postponed_until": iso_z(run.postponed_until),
    }


def input_out(row: RunInput, *, managed: bool = False) -> dict[str, Any]:
    """`managed`: the row belongs to a managed run; the pool account's identity stays internal."""
    return {
        "uid": row.uid,
        "index": row.index,
        "status": row.status,
        "input": row.input,
        "custom_data": row.custom_data,
        "identity_uid": None if managed else row.identity_uid,
        "output_count": row.output_count,
        "error": row.error,
        "postponed_until": iso_z(row.postponed_until),
        "started_at": iso_z(row.started_at),
        "finished_at": iso_z(row.finished_at),
    }


def output_out(row: RunOutput, *, managed: bool = False) -> dict[str, Any]:
    return {
        **row.data,
        "run_input_uid": row.run_input_uid,
        "identity_uid": None if managed else row.identity_uid,
        "custom_data": row.custom_data,
        "extracted_at": iso_z(row.extracted_at),
    }
