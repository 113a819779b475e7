"""One account's view of the world: the generated graph merged with what happened at run time.

Connections, invitations and conversations each come from two places — the world (generated, immutable)
and the store (accepted invitations, sent messages) — and this module is the only one that merges them.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkedin.sandbox import ids
from linkedin.sandbox.model import Account, Message, ReceivedInvitation
from linkedin.sandbox.records import OutboxEntry, SentInvitation
from linkedin.sandbox.store import Store
from linkedin.sandbox.world import World


@dataclass
class ThreadView:
    thread_id: str
    member_id: int  # the other participant
    messages: list[Message]  # oldest first
    unread: bool

    @property
    def last_message_at(self) -> int:
        return self.messages[-1].at


class Social:
    def __init__(self, world: World, store: Store):
        self._world = world
        self._store = store

    # --- connections ----------------------------------------------------------------------------------

    def is_connected(self, account: Account, member_id: int) -> bool:
        return member_id in account.connection_ids or member_id in self._store.added_connections.get(
            account.id, {}
        )

    def connections(self, account: Account) -> list[tuple[int, int]]:
        """(member id, connected_at), most recently added first."""
        added = self._store.added_connections.get(account.id, {})
        recent = sorted(added.items(), key=lambda c: (-c[1], c[0]))
        return recent + [c for c in account.connections if c[0] not in added]

    def degree(self, account: Account, member_id: int) -> int:
        if self.is_connected(account, member_id):
            return 1
        # A stable 2nd/3rd degree: the sandbox does not model friends of friends.
        return 2 if (member_id + account.id) % 3 else 3

    # --- invitations ----------------------------------------------------------------------------------

    def received_pending(self, account: Account) -> list[ReceivedInvitation]:
        changes = self._store.received_changes
        pending = [inv for inv in account.received_invitations if inv.id not in changes]
        return sorted(pending, key=lambda inv: (-inv.sent_at, inv.id))

    def sent_pending(self, account: Account) -> list[SentInvitation]:
        pending = [
            inv
            for inv in self._store.sent_invitations.values()
            if inv.account_id == account.id and inv.state == "pending"
        ]
        return sorted(pending, key=lambda inv: (-inv.sent_at, -inv.id))

    def invited(self, account: Account) -> set[int]:
        """Everyone the account ever invited (pending, accepted or withdrawn)."""
        return {m for (a, m) in self._store.sent_by_target if a == account.id}

    # --- conversations --------------------------------------------------------------------------------

    def _sent(self, account: Account, entries: list[OutboxEntry]) -> list[Message]:
        return [
            Message(
                message_id=e.message_id or "", sender_id=account.profile.member_id, text=e.text or "", at=e.at
            )
            for e in entries
        ]

    def thread(self, account: Account, thread_id: str) -> ThreadView | None:
        generated = self._world.conversations.get((account.id, thread_id))
        sent = self._store.thread_messages.get((account.id, thread_id), [])
        if generated is None and not sent:
            return None
        messages = list(generated.messages) if generated else []
        messages.extend(self._sent(account, sent))
        messages.sort(key=lambda m: m.at)
        member_id = generated.member_id if generated else sent[0].to_member_id
        unread = (
            bool(generated and generated.unread) and (account.id, thread_id) not in self._store.read_marks
        )
        return ThreadView(thread_id, member_id, messages, unread)

    def threads(self, account: Account) -> list[ThreadView]:
        """Every conversation of the account, most recent activity first."""
        thread_ids = dict.fromkeys(c.thread_id for c in account.conversations)
        thread_ids.update(self._store.account_threads.get(account.id, {}))
        views = [v for v in (self.thread(account, t) for t in thread_ids) if v is not None]
        views.sort(key=lambda v: (-v.last_message_at, v.thread_id))
        return views

    @staticmethod
    def thread_for(account: Account, member_id: int) -> str:
        return ids.thread_id(account.id, member_id)
