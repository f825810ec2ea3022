"""What Swath needs of its Temporal namespace, checked at start-up and set up by `swath temporal setup`.

The namespace must exist and carry Swath's search attributes (`search_attributes.ALL`). The dev
server that `swath up` starts registers them by flag; on an existing cluster `swath temporal
setup` adds the missing ones (idempotent). Temporal Cloud does not let a namespace's own clients
add search attributes: there they are added in the Cloud UI or with `tcld`, and the check names
what is missing and of which type.
"""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from swath.domain.errors import TemporalSetupError
from swath.temporal import search_attributes

log = logging.getLogger(__name__)

#: Swath's search attributes by name, as the server spells their types.
WANTED = {key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in search_attributes.ALL}
SETUP_HINT = "run `swath temporal setup` (on Temporal Cloud, add them in the Cloud UI or with tcld)"


async def missing_search_attributes(client: Client) -> list[str]:
    """Swath's search attributes the namespace lacks; `TemporalSetupError` if there is no namespace."""
    namespace = client.namespace
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise TemporalSetupError(f"the Temporal namespace {namespace!r} does not exist; create it first") from None
        raise
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return sorted(name for name in WANTED if name not in listed.custom_attributes)


async def ensure_ready(client: Client) -> None:
    """Refuse to start (`TemporalSetupError`) unless the namespace exists with every search attribute.

    A server that does not let this client list search attributes is not a reason to refuse: the
    first run that needs one fails with the server's own message, and this logs why it could not check.
    """
    try:
        missing = await missing_search_attributes(client)
    except RPCError as err:
        if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            log.warning("cannot check the search attributes of %r: %s", client.namespace, err.message)
            return
        raise
    if missing:
        raise TemporalSetupError(
            f"the Temporal namespace {client.namespace!r} lacks the search attributes "
            f"{', '.join(f'{name} (Keyword)' for name in missing)}; {SETUP_HINT}"
        )


async def set_up(client: Client) -> list[str]:
    """Add the search attributes the namespace lacks; returns their names (none: nothing to do)."""
    missing = await missing_search_attributes(client)
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes={n: WANTED[n] for n in missing})
        )
    return missing
