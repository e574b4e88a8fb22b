"""Prompt ``classify-v3``: classify one or more delimited documents into the project's classes.

The text lives in template files (``templates/classify-v3.system.j2`` for the instructions,
``templates/classify-v3.user.j2`` for the documents); a project may replace the instructions
with its own template (``labelwise project set-prompt``), never the document blocks.
Pure functions only. Documents are untrusted data: each sits in a ``<document id="...">`` block
whose closing tag cannot be forged from inside (``</document`` in the text is defused), and the
system message tells the model that nothing inside a document is an instruction. The answer is
JSON constrained to the class names (a JSON schema with an ``enum`` where the server allows).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from labelwise.domain import ClassSpec, Example, FailureReason, LabelwiseError, ProjectKind

VERSION = "classify-v3"  # the template files prompts/templates/<VERSION>.{system,user}.j2
TEMPLATES = Path(__file__).parent / "templates"
MAX_INSTRUCTIONS = 20_000  # characters of a project's own instructions template
TAG = re.compile(r"<(/?)(document|example)", re.IGNORECASE)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


@dataclass(frozen=True)
class PromptDoc:
    """A document as it goes into a prompt (``key`` ties the answer back to it)."""

    key: str
    text: str
    shortened: bool = False


def defuse(text: str) -> str:
    """Make ``<document``/``</document`` (and example tags) inside a text harmless."""
    return TAG.sub(lambda m: f"<{m.group(1)}\u200b{m.group(2)}", text)


@cache
def _environment() -> SandboxedEnvironment:
    """Templates render in a sandbox (a project's own template cannot reach Python), as plain
    text: the messages are not HTML. Unknown variables are errors, not empty strings."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )


def _packaged(part: str) -> Template:
    return _environment().get_template(f"{VERSION}.{part}.j2")


def packaged_instructions() -> str:
    """The shipped instructions template's source (what ``project set-prompt`` replaces)."""
    return (TEMPLATES / f"{VERSION}.system.j2").read_text(encoding="utf-8")


def check_instructions(source: str) -> str:
    """``source`` when it is a template that renders for a task, or an error saying where not."""
    if len(source) > MAX_INSTRUCTIONS:
        raise LabelwiseError(
            f"the prompt template has {len(source):,} characters; at most {MAX_INSTRUCTIONS:,}"
        )
    try:
        template = _environment().from_string(source)
        sample = [ClassSpec("a", "the first class", ("an example",)), ClassSpec("b")]
        for kind in ProjectKind:
            for flag in (False, True):
                template.render(_instruction_vars(kind, sample, flag, flag))
    except TemplateSyntaxError as exc:
        raise LabelwiseError(f"the prompt template, line {exc.lineno}: {exc.message}") from exc
    except (TemplateError, SecurityError) as exc:
        raise LabelwiseError(f"the prompt template does not render: {exc}") from exc
    return source


def instructions_version(source: str | None) -> str:
    """The prompt version of a project: the package's, or a hash of its own template (so the
    answer cache and the already-suggested check keep the two apart)."""
    if not source:
        return VERSION
    return f"{VERSION}+{hashlib.sha256(source.encode()).hexdigest()[:10]}"


def _instruction_vars(
    kind: ProjectKind, classes: Sequence[ClassSpec], rationale: bool, constrained: bool
) -> dict[str, Any]:
    single = kind == ProjectKind.SINGLE_LABEL
    field_name = "label" if single else "labels"
    answer_format = (
        'Answer with JSON only, using only the classes above: {"results": [{"id": '
        '"<document id>", '
        + ('"rationale": "<one sentence>", ' if rationale else "")
        + f'"{field_name}": '
        + ('"<class>"' if single else '["<class>", ...]')
        + "}, ...]}, one result per document."
    )
    return {
        "classes": [
            {
                "name": c.name,
                "description": c.description,
                "examples": [json.dumps(e[:200], ensure_ascii=False) for e in c.examples[:3]],
                "described": bool(c.description or c.examples),
            }
            for c in classes
        ],
        "choose": "exactly one" if single else "every one that applies (one or more)",
        "multi_label": not single,
        "rationale": rationale,
        "constrained": constrained,
        "answer_format": answer_format,
    }


def system_message(
    kind: ProjectKind,
    classes: Sequence[ClassSpec],
    rationale: bool,
    constrained: bool = False,
    instructions: str | None = None,
) -> str:
    """The instructions, from the package's template or the project's own (``instructions``).
    ``constrained``: the server enforces the JSON schema, so the answer's format need not be
    spelled out (fewer tokens on every request)."""
    template = _environment().from_string(instructions) if instructions else _packaged("system")
    text = template.render(_instruction_vars(kind, classes, rationale, constrained))
    return text.rstrip("\n")


def user_message(docs: Sequence[PromptDoc], shots: Sequence[Example]) -> str:
    """The documents, each in its delimited block (texts defused), after the labeled examples."""
    return (
        _packaged("user")
        .render(
            shots=[
                {
                    "labels": json.dumps(list(ex.labels), ensure_ascii=False),
                    "text": defuse(ex.text),
                }
                for ex in shots
            ],
            docs=[{"key": d.key, "text": defuse(d.text), "shortened": d.shortened} for d in docs],
        )
        .rstrip("\n")
    )


def render(
    kind: ProjectKind,
    classes: Sequence[ClassSpec],
    docs: Sequence[PromptDoc],
    shots: Sequence[Example] = (),
    rationale: bool = False,
    constrained: bool = False,
    instructions: str | None = None,
) -> list[dict[str, str]]:
    """The chat messages for one request."""
    return [
        {
            "role": "system",
            "content": system_message(kind, classes, rationale, constrained, instructions),
        },
        {"role": "user", "content": user_message(docs, shots)},
    ]


def json_schema(
    kind: ProjectKind,
    classes: Sequence[str],
    keys: Sequence[str],
    rationale: bool,
    exact_count: bool = False,
) -> dict[str, Any]:
    """The ``response_format`` json_schema (strict) that allows only the project's classes.

    ``exact_count`` adds ``minItems``/``maxItems`` (one result per document) for grammar-based
    servers such as llama.cpp, which otherwise may answer an empty list.
    """
    label: dict[str, Any] = {"type": "string", "enum": list(classes)}
    props: dict[str, Any] = {"id": {"type": "string", "enum": list(keys)}}
    if rationale:
        props["rationale"] = {"type": "string"}
    if kind == ProjectKind.SINGLE_LABEL:
        props["label"] = label
    else:
        props["labels"] = {"type": "array", "items": label}
    item = {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
    results: dict[str, Any] = {"type": "array", "items": item}
    if exact_count:
        results.update(minItems=len(keys), maxItems=len(keys))
    return {
        "name": "classification",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"results": results},
            "required": ["results"],
            "additionalProperties": False,
        },
    }


@dataclass
class Parsed:
    """Per document key: the labels (with their character span in the answer), or why not."""

    labels: dict[str, list[tuple[str, tuple[int, int] | None]]] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (reason, detail)
    failure: tuple[str, str] | None = None  # the whole answer: (reason, detail)


def _extract_json(content: str) -> Any:
    text = FENCE.sub("", content.strip()).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the answer")


def _span(content: str, value: str, after: int) -> tuple[int, int] | None:
    """Where the JSON string ``value`` sits in the raw answer (for token logprobs)."""
    encoded = json.dumps(value, ensure_ascii=False)[1:-1]
    at = content.find(f'"{encoded}"', after)
    return (at + 1, at + 1 + len(encoded)) if at >= 0 else None


def parse(
    content: str | None, kind: ProjectKind, classes: Sequence[str], keys: Sequence[str]
) -> Parsed:
    """Read an answer tolerantly: JSON (fenced or wrapped in prose), a bare object for a single
    document, or — for one document — a bare class name. Labels outside ``classes`` are errors.
    """
    out = Parsed()
    if content is None or not content.strip():
        out.failure = (FailureReason.EMPTY_RESPONSE, "the model returned no text")
        return out
    try:
        data = _extract_json(content)
    except ValueError:
        if len(keys) == 1:
            hits = [
                c
                for c in classes
                if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", content, re.IGNORECASE)
            ]
            if len(hits) == 1 or (hits and kind == ProjectKind.MULTI_LABEL):
                out.labels[keys[0]] = [(h, None) for h in hits]
                return out
        out.failure = (FailureReason.PARSE_ERROR, f"not JSON: {content[:120]!r}")
        return out
    results = _results(data, keys)
    if results is None:
        out.failure = (FailureReason.PARSE_ERROR, f"no 'results' list in {content[:120]!r}")
        return out
    allowed = set(classes)
    lowered = {c.lower(): c for c in classes}
    cursor = 0
    for item in results:
        if not isinstance(item, dict):
            continue
        key = str(item.get("id", keys[0] if len(keys) == 1 else ""))
        if key not in keys or key in out.labels or key in out.errors:
            continue
        raw = item.get("label", item.get("labels", item.get("class", item.get("classes"))))
        values = raw if isinstance(raw, list) else [raw]
        if kind == ProjectKind.SINGLE_LABEL and len(values) != 1:
            out.errors[key] = (
                FailureReason.INVALID_LABEL,
                f"{len(values)} labels in a single-label project",
            )
            continue
        labels: list[tuple[str, tuple[int, int] | None]] = []
        bad = None
        for v in values:
            if not isinstance(v, str):
                bad = repr(v)
                break
            name = v if v in allowed else lowered.get(v.strip().lower())
            if name is None:
                bad = v
                break
            span = _span(content, v, cursor)
            if span:
                cursor = span[1]
            labels.append((name, span))
        if bad is not None:
            out.errors[key] = (FailureReason.INVALID_LABEL, f"answered {bad[:80]!r}, not a class")
            continue
        if not labels:
            out.errors[key] = (FailureReason.INVALID_LABEL, "answered no class")
            continue
        out.labels[key] = list(dict.fromkeys(labels))
        if isinstance(item.get("rationale"), str):
            out.rationales[key] = item["rationale"][:500]
    return out


def _results(data: Any, keys: Sequence[str]) -> list[Any] | None:
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"]  # type: ignore[no-any-return]
    if isinstance(data, list):
        return data
    if (
        isinstance(data, dict)
        and len(keys) == 1
        and any(k in data for k in ("label", "labels", "class", "classes"))
    ):
        return [data]
    return None
