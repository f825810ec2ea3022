"""Custom Temporal search attributes: what the Web UI can filter runs by."""

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("SwathTenant")
MODEL = SearchAttributeKey.for_keyword("SwathModel")
STATUS = SearchAttributeKey.for_keyword("SwathStatus")

ALL = (TENANT, MODEL, STATUS)

#: `--search-attribute Name=Type` values for `temporal server start-dev`.
DEV_SERVER_FLAGS = {key.name: "Keyword" for key in ALL}
