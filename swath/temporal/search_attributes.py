"""Custom Temporal search attributes: what the Web UI can filter runs by."""

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("SwathTenant")
MODEL = SearchAttributeKey.for_keyword("SwathModel")
#: Upserted only by runs of the legacy `AnalysisRun` (v2) and `AnalysisRunWorkflow` (v1) types;
#: kept registered while such runs may be open. A current run's status is Temporal's own
#: `ExecutionStatus` (running, completed, failed, canceled) and, in detail, the API's.
STATUS = SearchAttributeKey.for_keyword("SwathStatus")

ALL = (TENANT, MODEL, STATUS)

#: `--search-attribute Name=Type` values for `temporal server start-dev`.
DEV_SERVER_FLAGS = {key.name: "Keyword" for key in ALL}
