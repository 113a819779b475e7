"""The contract's error labels (API.md §1) and the exception that carries one to the HTTP layer."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorScope(StrEnum):
    request = "request"
    auth = "auth"
    input = "input"
    parameters = "parameters"
    identity = "identity"
    integration = "integration"
    limit = "limit"
    linkedin = "linkedin"
    internal = "internal"


# label → (HTTP status, scope)
ERROR_LABELS: dict[str, tuple[int, ErrorScope]] = {
    "BAD_INPUT": (400, ErrorScope.input),
    "BAD_PARAMETERS": (400, ErrorScope.parameters),
    "UNAUTHORIZED": (401, ErrorScope.auth),
    "FORBIDDEN": (403, ErrorScope.auth),
    "NOT_FOUND": (404, ErrorScope.request),
    "METHOD_NOT_ALLOWED": (405, ErrorScope.request),
    "PAYLOAD_TOO_LARGE": (413, ErrorScope.request),
    "UNSUPPORTED_MEDIA_TYPE": (415, ErrorScope.request),
    "CONFLICT": (409, ErrorScope.request),
    "LIMIT_REACHED": (429, ErrorScope.limit),
    "RATE_LIMITED": (429, ErrorScope.request),
    "NO_VALID_ACCOUNT_CONFIGURED": (424, ErrorScope.identity),
    "INTEGRATION_INVALID": (424, ErrorScope.integration),
    "INTEGRATION_RESTRICTED": (424, ErrorScope.integration),
    "NO_EGRESS_AVAILABLE": (424, ErrorScope.identity),
    "SN_ACCOUNT_UPGRADE": (424, ErrorScope.identity),
    "NOT_CONNECTED": (424, ErrorScope.linkedin),
    "PROFILE_NOT_ACCESSIBLE": (424, ErrorScope.linkedin),
    "CUSTOM_INVITE_LIMIT_REACHED": (424, ErrorScope.linkedin),
    "LK_ERROR": (424, ErrorScope.linkedin),
    "INTERNAL_ERROR": (500, ErrorScope.internal),
    # A dependency of the API (database, Temporal) is not reachable right now; retry later.
    "SERVICE_UNAVAILABLE": (503, ErrorScope.internal),
}


class ApiError(Exception):
    """Raised anywhere in request handling; rendered as the contract's error body."""

    def __init__(
        self,
        label: str,
        message: str,
        *,
        params: dict[str, Any] | None = None,
        status_code: int | None = None,
        scope: ErrorScope | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        default_status, default_scope = ERROR_LABELS.get(label, (500, ErrorScope.internal))
        self.label = label
        self.message = message
        self.params = params or {}
        self.status_code = status_code or default_status
        self.scope = scope or default_scope
        self.headers = headers or {}


def bad_input(field: str, message: str, *, label: str = "BAD_INPUT") -> ApiError:
    """A 400 naming one field in params.validation_errors."""
    return ApiError(
        label,
        f"{field}: {message}",
        params={"validation_errors": [{"field": field, "message": message}]},
    )
