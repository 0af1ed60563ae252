"""The forms error tree: one kind per thing that can be wrong, each with a message a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FormProblem:
    """One thing wrong with a set of answers.

    `link_id` is the Questionnaire item at fault (None for the form as a whole), `path` says which
    instance (e.g. ``medication[2].decision``), `message` is written for the nurse at the workstation.
    """

    link_id: str | None
    message: str
    path: str = ""


class FormError(ValueError):
    """Answers that do not fit their form; `.problems` lists every problem found, not just the first."""

    def __init__(self, problems: list[FormProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @property
    def link_ids(self) -> list[str | None]:
        """The linkIds at fault, in the order found (handy for highlighting fields)."""
        return [p.link_id for p in self.problems]


class UnknownWorkflow(FormError):
    """A workflow name that is not one of `forms.WORKFLOWS`."""

    def __init__(self, workflow: object, known: tuple[str, ...]):
        self.workflow = workflow
        super().__init__(
            [FormProblem(None, f"Unknown workflow {workflow!r}; expected one of: {', '.join(known)}")]
        )


class WorkflowDisabled(FormError):
    """A known workflow that this site's overlay has switched off."""

    def __init__(self, workflow: str):
        self.workflow = workflow
        super().__init__([FormProblem(None, f"The {workflow} workflow is not enabled at this site")])


class OverlayError(ValueError):
    """A site overlay that may not be applied; `.path` names the file (or source), `.reason` says why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
