"""The labeler interface: what a labeler is given and what it answers. No I/O here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from labelwise.costs import Budget
from labelwise.domain import DocInput, FailureReason, LabelTask

FAILURE_REASONS = tuple(FailureReason)


@dataclass(frozen=True)
class Prediction:
    class_name: str
    confidence: float
    rationale: str | None = None


@dataclass
class Outcome:
    """A labeler's answer for one document: predictions, or a failure with its reason."""

    doc_id: int
    predictions: list[Prediction] = field(default_factory=list)
    failure: str | None = None  # one of FAILURE_REASONS
    detail: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    confidence_source: str = ""


class Labeler(ABC):
    """A backend that turns (task, documents) into outcomes.

    Capabilities are class attributes; options are a pydantic model that forbids unknown keys.
    Heavy imports happen lazily inside the backend.
    """

    name: ClassVar[str]
    needs_network: ClassVar[bool] = False

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or self.Options()
        # a job's money, set by the runner: a labeler that spends reserves before each request
        self.budget: Budget | None = None
        # what the labeler is retrying and why, with when it said so (the job page shows it)
        self.retrying: tuple[float, str] | None = None

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The model behind the labeler, recorded on every suggestion."""

    @property
    @abstractmethod
    def prompt_version(self) -> str:
        """The version of the prompt/template, recorded on every suggestion."""

    @property
    def price_model(self) -> str:
        """The model its tokens are priced as; "" for a labeler that runs here, free."""
        return ""

    @abstractmethod
    def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
        """One outcome per document, in order."""

    def held_out(
        self, task: LabelTask, only: Collection[str] | None = None
    ) -> list[tuple[float, bool]]:
        """(confidence, right) of what the labeler suggests for the user's labeled documents
        (those whose content hash is in ``only``, when given) when each is left out of what it
        learns from: evidence of how far its confidences hold before anyone has reviewed a
        suggestion. Empty for a labeler that does not learn from the labels (an LLM's few-shot
        examples are not cross-fitted)."""
        return []

    def wants_survey(self, task: LabelTask) -> bool:
        """Whether :meth:`survey` would use a sample of the documents a run labels."""
        return False

    def survey(self, task: LabelTask, docs: Sequence[DocInput]) -> None:  # noqa: B027 (a hook)
        """Look at a random sample of the documents a run will label, before it labels any
        (a labeler that adapts to them; most do not)."""

    def check(self) -> None:  # noqa: B027 (a hook: most labelers need nothing)
        """Raise a LabelwiseError now if the labeler cannot work (a missing API key), before
        a job is stored. Sends nothing."""

    def flush(self) -> None:  # noqa: B027 (a hook: most labelers buffer nothing)
        """Write what the labeler buffered (cached answers). The job runner calls it once a
        wave from its own thread, so request threads never wait on the database."""
