"""Every type a run's workflow has had: the one this build starts, the frozen ones it still hosts,
and the ones it retired, with the drain check that guards a retirement.

A build hosts the current run type and the one before it (`workflows.legacy`): a rolling upgrade
always leaves runs of the type the previous build started, and they finish on this one. Types older
than that are deleted from the code and listed in `RETIRED_RUN_TYPES`. Nothing finishes a run of a
retired type, so a build must not serve while one is open: `open_runs_of` counts them through
Temporal's visibility, and `swath up`, `swath temporal drain-check` and the chart's pre-upgrade
hook refuse to start this build (`UndrainedVersionsError`) until the previous build has drained them.

Class names equal Temporal type names (a type copied from the Web UI is the class to open), so a
version's class is found by the type name alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client

from swath.domain.errors import UndrainedVersionsError

#: The run type this build starts (`workflows.analysis_run`); `swath.temporal.catalog.ANALYSIS_RUN`.
CURRENT_RUN_TYPE = "AnalysisRunV4"
#: Frozen earlier types this build still hosts, to finish their runs (`workflows.legacy`).
HOSTED_LEGACY_RUN_TYPES: tuple[str, ...] = ("AnalysisRunV3",)
#: Types this build can no longer run (deleted from the code), newest first.
RETIRED_RUN_TYPES: tuple[str, ...] = ("AnalysisRun", "AnalysisRunWorkflow")


@dataclass(frozen=True)
class OpenRuns:
    """How many runs of each retired type are still open (only those with any)."""

    by_type: dict[str, int]

    @property
    def drained(self) -> bool:
        """No run of a retired type is open: this build may serve."""
        return not self.by_type

    def describe(self) -> str:
        """One line for an operator."""
        if self.drained:
            return f"drained: no open run of a retired type ({', '.join(RETIRED_RUN_TYPES)})"
        counts = ", ".join(f"{n} of type {t}" for t, n in self.by_type.items())
        return (
            f"runs of workflow types this build no longer hosts are still open ({counts}); keep the previous "
            "build serving until they end, or terminate them (`temporal workflow terminate --query "
            "'WorkflowType=\"<type>\" AND ExecutionStatus=\"Running\"'`)"
        )


def open_runs_query(run_type: str) -> str:
    """The visibility query for the open runs of one type."""
    return f'WorkflowType="{run_type}" AND ExecutionStatus="Running"'


async def open_runs_of(client: Client, types: tuple[str, ...] = RETIRED_RUN_TYPES) -> OpenRuns:
    """Count the open runs of each of `types` (one visibility count per type)."""
    counts = {t: (await client.count_workflows(open_runs_query(t))).count for t in types}
    return OpenRuns({t: n for t, n in counts.items() if n})


async def ensure_drained(client: Client, types: tuple[str, ...] = RETIRED_RUN_TYPES) -> OpenRuns:
    """Refuse (`UndrainedVersionsError`) while any run of a retired type is open."""
    found = await open_runs_of(client, types)
    if not found.drained:
        raise UndrainedVersionsError(found.describe())
    return found
