"""Side effects of API changes that reach beyond the request's own rows (events, workflows, schedules).

Routes call these *after* committing, so whatever they start sees the committed state.
"""

from __future__ import annotations

from typing import Any


async def on_identity_deleted(app_state: Any, workspace_uid: str, identity_uid: str) -> None:
    """An identity was soft-deleted and its integration marked deleted with its cookies erased.

    To be extended: emit the integration's `DELETED` event, stop the identity's runs, cancel its schedules.
    `app_state` is the app's `request.app.state` (settings, engine, keyring, temporal_client).
    """
    return None
