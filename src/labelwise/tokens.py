"""Token counts: exact offline counts for OpenAI encodings (o200k, cl100k), a 4-characters-a-token
estimate elsewhere, and the chat format's per-message framing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "gpt-oss")
CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3")
# per-message framing of the chat format (OpenAI cookbook): 3 tokens a message, 3 to prime
MESSAGE_OVERHEAD = 3
REPLY_OVERHEAD = 3


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens; ``exact`` says whether the count is the model's own encoding."""

    encoding: str
    exact: bool
    count: Callable[[str], int]

    def count_messages(self, messages: Sequence[dict[str, str]]) -> int:
        return (
            sum(MESSAGE_OVERHEAD + self.count(m["content"]) + 1 for m in messages) + REPLY_OVERHEAD
        )


def _estimate(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


@cache
def _quicktok(encoding: str) -> Callable[[str], int]:
    import quicktok

    tokenizer = quicktok.get_encoding(encoding)
    return tokenizer.count  # type: ignore[no-any-return]


def encoding_for(model: str) -> str | None:
    name = model.lower().split("/")[-1]
    if name.startswith(O200K_PREFIXES):
        return "o200k_base"
    if name.startswith(CL100K_PREFIXES):
        return "cl100k_base"
    return None


def token_counter(model: str) -> TokenCounter:
    """An exact counter for OpenAI models, else a 4-characters-a-token estimate."""
    encoding = encoding_for(model)
    if encoding is None:
        return TokenCounter("estimate (4 characters a token)", False, _estimate)
    return TokenCounter(encoding, True, _quicktok(encoding))


def count_request(
    counter: TokenCounter, messages: Sequence[dict[str, str]], response_format: object = None
) -> int:
    """Prompt tokens of a chat request as providers bill them: the messages with their framing,
    and a JSON schema ``response_format``, which is billed as prompt text."""
    tokens = counter.count_messages(messages)
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        tokens += counter.count(json.dumps(response_format["json_schema"], separators=(",", ":")))
    return tokens
