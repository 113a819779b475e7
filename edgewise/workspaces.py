"""Creating a workspace with its first admin (the CLI, `make dev` and tests use this; no HTTP route does)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from db.engine import session_scope
from db.models import Member, Workspace
from edgewise.crypto import Keyring, hash_api_key, new_api_key, new_webhook_secret


@dataclass
class CreatedWorkspace:
    workspace_uid: str
    member_uid: str
    api_key: str


def create_workspace(engine: Engine, keyring: Keyring, name: str, admin_email: str) -> CreatedWorkspace:
    name = name.strip()
    email = admin_email.strip().lower()
    if not name or len(name) > 255:
        raise ValueError("name must be 1–255 characters")
    if "@" not in email or len(email) > 320:
        raise ValueError("admin email is not an email address")
    api_key = new_api_key()
    with session_scope(engine) as session:
        workspace = Workspace(name=name, secret_enc="")
        workspace.secret_enc = keyring.encrypt_json(new_webhook_secret(), associated=workspace.uid)
        session.add(workspace)
        session.flush()
        member = Member(
            workspace_uid=workspace.uid, email=email, role="admin", key_hash=hash_api_key(api_key)
        )
        session.add(member)
    return CreatedWorkspace(workspace_uid=workspace.uid, member_uid=member.uid, api_key=api_key)


def workspace_secret(keyring: Keyring, workspace: Workspace) -> str:
    return str(keyring.decrypt_json(workspace.secret_enc, associated=workspace.uid))
