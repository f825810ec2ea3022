"""The `orchestration` pool: workflows only, never blocked by I/O."""

from swath.temporal.queues import TaskQueue
from workers.pool import PoolSpec
from workflows.analysis_run import AnalysisRunWorkflow
from workflows.blob_lifecycle import BlobLifecycleWorkflow
from workflows.legacy.analysis_run_v1 import AnalysisRunWorkflowV1
from workflows.legacy.analysis_run_v2 import AnalysisRunWorkflowV2
from workflows.scene_map import SceneMapWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

POOL = PoolSpec(
    queue=TaskQueue.ORCHESTRATION,
    workflows=(
        AnalysisRunWorkflow, SceneMapWorkflow, WebhookDeliveryWorkflow, BlobLifecycleWorkflow, AnalysisRunWorkflowV2, AnalysisRunWorkflowV1,
    ),
)
