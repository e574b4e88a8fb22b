"""Typed vocabulary and the rules without I/O (the label rules: README, "Label rules")."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL: a larger number names nothing
MAX_CLASS_NAME = 50
MAX_CLASSES = 200
MAX_DOCUMENT_CHARS = 128_000
FORBIDDEN_CLASS_CHARS = frozenset(":$&%*()+~#/?")
# OpenAI-style keys (sk-..., also masked as sk-proj-****abcd) and bearer tokens in echoed text
API_KEY_SHAPE = re.compile(r"\b(?:sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+[A-Za-z0-9._\-~+/=*]{6,})")


CHEAP_LABELERS = ("embedding", "model")  # labelers that cost nothing per document
UNCERTAIN_BELOW = 0.9  # --only-uncertain: send the LLM what the cheap labelers score below this


class LabelwiseError(Exception):
    """An error the user can act on; its message says what, where and what to do."""


class ProviderRefused(LabelwiseError):
    """The provider refuses every request of a job (a wrong key, no permission, no such model
    or deployment): the job stops at once with this message instead of failing each document."""


class NotFound(LabelwiseError):
    """A named project, class, document or suggestion does not exist."""


class Conflict(LabelwiseError):
    """The request contradicts what is stored (duplicate name, label rule, ...)."""


class ProjectKind(StrEnum):
    SINGLE_LABEL = "single_label"
    MULTI_LABEL = "multi_label"


class Dataset(StrEnum):
    TRAIN = "train"
    TEST = "test"


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class JobStatus(StrEnum):
    """An autolabel job's status, as Azure names them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_REACHED = "budget_reached"  # stopped before a request could pass the budget
    INTERRUPTED = "interrupted"  # never stored: a running job whose process stopped beating


STORED_JOB = tuple(s for s in JobStatus if s is not JobStatus.INTERRUPTED)


ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)
FINAL_JOB = (
    JobStatus.SUCCEEDED,
    JobStatus.PARTIALLY_SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.BUDGET_REACHED,
)


class ItemStatus(StrEnum):
    """One document of a job."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class ModelStatus(StrEnum):
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class FailureReason(StrEnum):
    """Why a document of a job failed; every failure stored names one."""

    INVALID_LABEL = "invalid_label"
    PARSE_ERROR = "parse_error"
    EMPTY_RESPONSE = "empty_response"
    PROVIDER_ERROR = "provider_error"
    CONTENT_FILTER = "content_filter"
    TIMEOUT = "timeout"
    CONTEXT_LENGTH = "context_length"  # the prompt is longer than the model's window
    MISSING = "missing"  # a batched answer left the document out (retried once)
    DOCUMENT_DELETED = "document_deleted"


def check_constraint(column: str, values: Iterable[StrEnum]) -> str:
    """``column in ('a', 'b')`` for a CHECK constraint from an enum's values."""
    return f"{column} in ({', '.join(repr(v.value) for v in values)})"


class DocFilter(StrEnum):
    """The document filters of the Data labeling page."""

    ALL = "all"
    UNLABELED = "unlabeled"
    LABELED = "labeled"
    AUTO_LABELED = "auto-labeled"


KEY_ENV_SUFFIX = "_API_KEY"


def check_key_env(name: str, allowed: Iterable[str] = ()) -> str:
    """``name`` when it may hold an API key: it ends in ``_API_KEY`` or is listed in
    ``allowed`` (``LABELWISE_ALLOWED_KEY_ENVS``). Any other variable of the server's
    environment (``AWS_SECRET_ACCESS_KEY``, ``DATABASE_URL``) could be sent to any endpoint."""
    if not name.endswith(KEY_ENV_SUFFIX) and name not in set(allowed):
        raise LabelwiseError(
            f"the key variable {name[:60]!r} is not allowed: its name must end in "
            f"{KEY_ENV_SUFFIX} (or be listed in LABELWISE_ALLOWED_KEY_ENVS on the server), so "
            "that no other secret of the environment can be sent to an endpoint"
        )
    return name


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and anything shaped like an API key, replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return API_KEY_SHAPE.sub("***", text)


def validate_class_name(name: str) -> str:
    """Return ``name`` stripped, or raise with the reason Azure would give."""
    stripped = name.strip()
    if not stripped:
        raise LabelwiseError("class name is empty; give 1 to 50 characters")
    if len(stripped) > MAX_CLASS_NAME:
        raise LabelwiseError(
            f"class name {stripped[:60]!r} has {len(stripped)} characters; "
            f"the limit is {MAX_CLASS_NAME}"
        )
    bad = sorted(set(stripped) & FORBIDDEN_CLASS_CHARS)
    if bad:
        raise LabelwiseError(
            f"class name {stripped!r} contains {' '.join(bad)}; "
            "class names may not contain any of : $ & % * ( ) + ~ # / ?"
        )
    if any(ord(ch) < 32 for ch in stripped):
        raise LabelwiseError(f"class name {stripped!r} contains a control character")
    return stripped


MAX_PROJECT_NAME = 100
PROJECT_NAME_CHARS = "-_."


def validate_project_name(name: str) -> str:
    """Azure's rule for project names: letters, digits, ``-``, ``_`` and ``.``, at most 100
    characters. Such a name is safe in a URL path, a file name and a shell."""
    stripped = name.strip()
    if not stripped:
        raise LabelwiseError("project name is empty; give 1 to 100 letters, digits, - _ or .")
    if len(stripped) > MAX_PROJECT_NAME:
        raise LabelwiseError(
            f"project name {stripped[:60]!r}... is over {MAX_PROJECT_NAME} characters"
        )
    bad = [c for c in stripped if not (c.isalnum() or c in PROJECT_NAME_CHARS)]
    if bad:
        raise LabelwiseError(
            f"project name {stripped[:60]!r} contains {bad[0]!r}; use only letters, digits, "
            "'-', '_' and '.' (as Azure does), e.g. "
            + repr("".join(c if c.isalnum() or c in PROJECT_NAME_CHARS else "-" for c in stripped))
        )
    return stripped


def content_hash(text: str) -> str:
    """The SHA-256 hex digest of a document's text (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_dataset(value: str, where: str = "") -> Dataset:
    """Accept ``train``/``test`` in any case (Azure writes ``Train``/``Test``)."""
    try:
        return Dataset(value.strip().lower())
    except ValueError:
        at = f" in {where}" if where else ""
        raise LabelwiseError(f"dataset {value!r}{at} is neither 'train' nor 'test'") from None


class DocumentRecord:
    """One document read by an importer, before it is stored.

    ``labels`` is ``None`` when the source says nothing about labels, and a tuple (maybe empty)
    when it does; ``where`` names the file and line for error messages.
    """

    __slots__ = ("dataset", "labels", "language", "name", "text", "where")

    def __init__(
        self,
        name: str,
        text: str,
        *,
        where: str,
        language: str | None = None,
        dataset: Dataset | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.text = text
        self.where = where
        self.language = language
        self.dataset = dataset
        self.labels = labels


class RecordError(LabelwiseError):
    """One bad record of an input; the rest of the input goes on."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


# -- the labeling task: what every labeler is given (no I/O) ------------------------------------


@dataclass(frozen=True)
class ClassSpec:
    """A class as a labeler sees it."""

    name: str
    description: str = ""
    examples: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """A prompt-like text for an encoder: its name made readable, and its description."""
        readable = self.name.replace("_", " ").replace("-", " ").strip()
        return f"{readable}: {self.description}" if self.description else readable


@dataclass(frozen=True)
class Example:
    """A user-labeled document, usable as a few-shot example or a class prototype."""

    text: str
    labels: tuple[str, ...]
    content_hash: str = ""


@dataclass(frozen=True)
class LabelTask:
    """Everything about the project a labeler needs, the same for every document of a run."""

    kind: ProjectKind
    classes: tuple[ClassSpec, ...]
    examples: tuple[Example, ...] = ()
    language: str = "en"

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)


@dataclass(frozen=True)
class DocInput:
    """One document to label; ``exclude`` names classes not to suggest (the user set them)."""

    id: int
    text: str
    content_hash: str = ""
    exclude: frozenset[str] = frozenset()


Progress = Callable[[int, int | None], None]
"""``on_progress(done, total)``: the one progress callback of every long step."""
