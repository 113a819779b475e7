"""JSON logs, one object per line. Secrets never reach a log line: log uids and labels, not payloads.

Every line says where it comes from: inside a Temporal activity (or from Temporal's own workflow and
activity loggers) it carries `workflow_id`, `workflow_run_id`, `workflow_type`, `activity_type` and
`attempt`, plus `run_uid` for an action run's workflow (`run:{uid}`); error answers of the API carry their
`error_ref` (api/errors.py). As a safety net, values that look like secrets are masked whatever logged them:
API keys (`ew_…`), webhook secrets (`whsec_…`), LinkedIn cookies (`li_at=…`, `JSESSIONID=…`), and any
extra field whose name says secret (`password`, `cookies`, `api_key`, `token`, …).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from temporalio import activity

from edgewise.config import Settings
from edgewise.timeutil import iso_z, utcnow

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# What Temporal's loggers attach (activity.logger / workflow.logger): flattened into top-level fields.
_TEMPORAL_EXTRAS = ("temporal_activity", "temporal_workflow")
_TEMPORAL_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "workflow_run_id",
    "run_id": "workflow_run_id",  # temporal_workflow names it run_id
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "attempt": "attempt",
}
RUN_WORKFLOW_PREFIX = "run:"
REDACTED = "[redacted]"
_SECRET_FIELD = re.compile(
    r"password|passwd|secret|cookie|api_?key|token|authorization|li_at|jsessionid", re.I
)
# A cookie's name, then `=` or `:` (quotes around either side, JSON-escaped or not), then its value.
_COOKIE_NAME = r"\b(?:li_at|li_a|JSESSIONID)(?:\\*[\"'])*\s*[=:]\s*(?:\\*[\"'])*"
_SECRET_TEXT = re.compile(
    rf"(?P<keep>\bew_|\bwhsec_|{_COOKIE_NAME})(?P<secret>[A-Za-z0-9_\-+/=.:%]{{6,}})",
    re.I,
)


def mask_secrets(text: str) -> str:
    """`text` with anything shaped like an edgewise API key, a webhook secret or a LinkedIn cookie masked."""
    return _SECRET_TEXT.sub(lambda match: match.group("keep") + REDACTED, text)


def _temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    for name in _TEMPORAL_EXTRAS:
        attached = getattr(record, name, None)
        if isinstance(attached, dict):
            return {_TEMPORAL_FIELDS[k]: v for k, v in attached.items() if k in _TEMPORAL_FIELDS}
    # Our own loggers, called from activity code (or a thread it started: context variables follow).
    if activity.in_activity():
        info = activity.info()
        return {
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "workflow_type": info.workflow_type,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
        }
    return {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": iso_z(utcnow()),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_") or key in _TEMPORAL_EXTRAS:
                continue
            payload[key] = REDACTED if _SECRET_FIELD.search(key) else value
        context = _temporal_context(record)
        for key, value in context.items():
            payload.setdefault(key, value)
        workflow_id = context.get("workflow_id")
        if isinstance(workflow_id, str) and workflow_id.startswith(RUN_WORKFLOW_PREFIX):
            payload.setdefault("run_uid", workflow_id.removeprefix(RUN_WORKFLOW_PREFIX))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return mask_secrets(json.dumps(payload, default=str, ensure_ascii=False))


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # httpx logs full request URLs at INFO; keep them out (they can carry tokens).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
