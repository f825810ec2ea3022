"""`ModelVersion`: a pushed model version is validated on the inference pool, once.

Started by the API when a version is pushed (workflow id `model-<name>-<version>`); one activity
on the inference queue validates it and records `ready` or `rejected`. Its history is two events
per attempt whatever the model's size: the artefact travels by reference.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from swath.domain.model_contracts import ValidateModelRequest, ValidateModelResult
    from swath.temporal.catalog import MODEL_VERSION, VALIDATE_MODEL_VERSION, execute


@workflow.defn(name=MODEL_VERSION.name)
class ModelVersion:
    """Validate one pushed version; its result is the version's status."""

    @workflow.run
    async def run(self, req: ValidateModelRequest) -> ValidateModelResult:
        return await execute(
            VALIDATE_MODEL_VERSION, req, summary=f"validate {req.model}@{req.version}"
        )
