"""The root of Tideover's one error tree, and the errors of forms.

``TideoverError`` lives here because ``forms`` is the lowest layer (import-linter's layers contract in
pyproject.toml: ui -> services -> store -> sync -> forms): every package may raise and catch it, and it
imports nothing of theirs. Every error has a ``kind``, a short stable name that both commands turn into
an exit code (``sync.exit_codes``, one table for ``tideover`` and ``tideover-central``) and the central
into an HTTP status (``sync.central.errors.HTTP_STATUS``). Tests assert the kind, never the wording.
``sync.errors`` re-exports ``TideoverError`` for the callers that import it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class TideoverError(Exception):
    """Base of every error Tideover raises on purpose; ``str(err)`` is one line a person can act on.

    Anything else that escapes is a bug: the commands show its traceback and exit with
    ``sync.exit_codes.EXIT_BUG``, never a refusal's code."""

    kind = "error"


@dataclass(frozen=True, slots=True)
class FormProblem:
    """One thing wrong with a set of answers.

    `link_id` is the Questionnaire item at fault (None for the form as a whole), `path` says which
    instance (e.g. ``medication[2].decision``), `message` is written for the nurse at the workstation.
    """

    link_id: str | None
    message: str
    path: str = ""


class FormError(TideoverError, ValueError):
    """Answers that do not fit their form; `.problems` lists every problem found, not just the first.

    Still a ``ValueError`` for pydantic validators and older callers; the commands catch it as a
    ``TideoverError`` by its ``kind``."""

    kind = "invalid_form"

    def __init__(self, problems: list[FormProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @property
    def link_ids(self) -> list[str | None]:
        """The linkIds at fault, in the order found (handy for highlighting fields)."""
        return [p.link_id for p in self.problems]


class UnknownWorkflow(FormError):
    """A workflow name that is not one of `forms.WORKFLOWS`."""

    kind = "unknown_workflow"

    def __init__(self, workflow: object, known: tuple[str, ...]):
        self.workflow = workflow
        super().__init__(
            [FormProblem(None, f"Unknown workflow {workflow!r}; expected one of: {', '.join(known)}")]
        )


class WorkflowDisabled(FormError):
    """A known workflow that this site's overlay has switched off."""

    kind = "workflow_disabled"

    def __init__(self, workflow: str):
        self.workflow = workflow
        super().__init__([FormProblem(None, f"The {workflow} workflow is not enabled at this site")])


class OverlayError(TideoverError, ValueError):
    """A site overlay that may not be applied; `.path` names the file (or source), `.reason` says why."""

    kind = "bad_overlay"

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
