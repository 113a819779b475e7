"""Custom search attributes for the Temporal UI: filter runs by workspace, identity, action, status."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

WORKSPACE = SearchAttributeKey.for_keyword("EdgewiseWorkspace")
IDENTITIES = SearchAttributeKey.for_keyword_list("EdgewiseIdentities")
ACTION = SearchAttributeKey.for_keyword("EdgewiseAction")
RUN_STATUS = SearchAttributeKey.for_keyword("EdgewiseRunStatus")

ALL = (WORKSPACE, IDENTITIES, ACTION, RUN_STATUS)
