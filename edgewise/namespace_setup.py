"""What the Temporal namespace must hold before edgewise's workflows start: its custom search attributes
(workflows/search_attributes.py). The worker registers the missing ones on start.

A self-hosted cluster lets any client do this through the operator service. Temporal Cloud does not: there
an operator adds them once with `tcld namespace search-attributes add` or in the Cloud UI (README,
Operations), and the worker only warns should any be missing.
"""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workflows import search_attributes

log = logging.getLogger("edgewise.temporal")


async def missing_search_attributes(client: Client, namespace: str) -> dict[str, int]:
    """Name → indexed value type of each of edgewise's search attributes the namespace lacks."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    existing = set(listed.custom_attributes)
    return {
        key.name: int(key.indexed_value_type) for key in search_attributes.ALL if key.name not in existing
    }


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the missing search attributes; return their names. Never raises: a refusal (Temporal Cloud,
    or a role without operator rights) is logged with what to do instead, and starting goes on."""
    try:
        missing = await missing_search_attributes(client, namespace)
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={
                        name: IndexedValueType.ValueType(kind) for name, kind in missing.items()
                    },
                )
            )
    except RPCError as exc:
        log.warning(
            "could not check or register the search attributes on namespace %s (%s: %s); on Temporal Cloud "
            "add them once with tcld or the Cloud UI (README, Operations): %s",
            namespace,
            exc.status.name,
            exc.message,
            ", ".join(key.name for key in search_attributes.ALL),
        )
        return []
    if missing:
        log.info("registered search attributes on namespace %s: %s", namespace, ", ".join(sorted(missing)))
    return sorted(missing)
