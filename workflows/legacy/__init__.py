"""Frozen earlier types of a run's workflow, hosted only to finish the runs they started.

Only the orchestration pool imports this package (a rule of `tests/test_layering.py`): no live
workflow, activity or contract depends on a legacy type. A build hosts the type before the current
one (`swath.temporal.versions.HOSTED_LEGACY_RUN_TYPES`); when a newer type replaces the current
one, the oldest module here is deleted and its type listed in `RETIRED_RUN_TYPES`, and the drain
check keeps that build from starting while a run of it is open.
"""

from workflows.legacy.analysis_run_v3 import AnalysisRunV3

#: The legacy workflow classes the orchestration pool registers (class name = Temporal type).
HOSTED = (AnalysisRunV3,)
