"""Define a job's states, the pipeline's steps and which state changes are allowed."""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    """Where a job is in its life; the job row, not the broker, is the source of truth."""

    QUEUED = "queued"
    CONVERTING = "converting"
    STORING = "storing"
    NOTIFYING = "notifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Tell whether no worker will touch a job in this state again without a retry."""
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class Step(enum.StrEnum):
    """The pipeline's steps, in order; each is one Dramatiq actor."""

    CONVERT = "convert"
    STORE = "store"
    NOTIFY = "notify"


# The state a job is in while each step runs.
STEP_STATE = {
    Step.CONVERT: JobState.CONVERTING,
    Step.STORE: JobState.STORING,
    Step.NOTIFY: JobState.NOTIFYING,
}

# The step whose message moves a job on from each unfinished state.
STATE_STEP = {JobState.QUEUED: Step.CONVERT, **{state: step for step, state in STEP_STATE.items()}}

_ALLOWED = {
    JobState.QUEUED: {JobState.CONVERTING, JobState.FAILED, JobState.CANCELLED},
    JobState.CONVERTING: {
        JobState.CONVERTING,
        JobState.STORING,
        JobState.QUEUED,
        JobState.FAILED,
        JobState.CANCELLED,
    },
    JobState.STORING: {JobState.STORING, JobState.NOTIFYING, JobState.FAILED, JobState.CANCELLED},
    JobState.NOTIFYING: {JobState.NOTIFYING, JobState.DONE, JobState.CANCELLED},
    JobState.DONE: set(),
    JobState.FAILED: {JobState.QUEUED, JobState.CONVERTING, JobState.STORING, JobState.CANCELLED},
    JobState.CANCELLED: set(),
}


class InvalidTransition(ValueError):
    """A job was asked to move to a state it cannot reach from where it is."""


def check_transition(current: JobState, target: JobState) -> None:
    """Raise `InvalidTransition` unless a job may go from `current` to `target`."""
    if target not in _ALLOWED[current]:
        raise InvalidTransition(f"a {current} job cannot become {target}")
