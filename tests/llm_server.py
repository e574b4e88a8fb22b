"""A real HTTP server on loopback that speaks the chat-completions protocol, for LLM tests.

It serves ``/v1/chat/completions`` (OpenAI style) and
``/openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure style), reads the
``<document id="...">`` blocks of the prompt, and answers from a gold map. Faults are queued:
latency, 429 with Retry-After, 500, answers outside the class set, malformed JSON, documents
left out of batched answers, refusing json_schema or logprobs, a 401 echoing the key, 403, 404
(model not found) and a context length exceeded.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from labelwise.tokens import count_request, token_counter

DOC = re.compile(r'<document id="([^"]+)"[^>]*>\n(.*?)\n</document>', re.DOTALL)


@dataclass
class FakeLLM:
    gold: dict[str, list[str]]  # document text -> its classes
    label_prob: float = 0.9
    supports_schema: bool = True
    supports_logprobs: bool = True
    faults: deque[str] = field(default_factory=deque)  # consumed one per request
    fail_every: int = 0  # every n-th request answers 500 (for benchmarks in another process)
    latency: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, body: dict[str, Any], fault: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fmt = (body.get("response_format") or {}).get("type")
        if fmt == "json_schema" and not self.supports_schema:
            return (
                400,
                {
                    "error": {
                        "message": "response_format json_schema is not supported",
                        "type": "invalid_request_error",
                    }
                },
                {},
            )
        if body.get("logprobs") and not self.supports_logprobs:
            return (
                400,
                {
                    "error": {
                        "message": "logprobs are not supported",
                        "type": "invalid_request_error",
                    }
                },
                {},
            )
        if fault and fault.startswith("429"):  # "429" or "429:<seconds of Retry-After>"
            after = fault.partition(":")[2] or "0"
            return 429, {"error": {"message": "rate limited"}}, {"Retry-After": after}
        if fault == "500":
            return 500, {"error": {"message": "boom"}}, {}
        if fault == "404":
            model = body.get("model")
            message = f"The model `{model}` does not exist or you do not have access to it."
            return 404, {"error": {"message": message, "code": "model_not_found"}}, {}
        if fault == "403":
            return 403, {"error": {"message": "You are not allowed to sample from this model"}}, {}
        if fault == "context":
            return (
                400,
                {
                    "error": {
                        "message": "This model's maximum context length is 128000 tokens. "
                        "However, your messages resulted in 130512 tokens.",
                        "code": "context_length_exceeded",
                    }
                },
                {},
            )
        if fault == "filter":
            return (
                400,
                {
                    "error": {
                        "message": "The response was filtered due to the prompt "
                        "triggering content management policy",
                        "code": "content_filter",
                    }
                },
                {},
            )
        user = body["messages"][-1]["content"]
        system = body["messages"][0]["content"]
        multi = "one or more" in system
        docs = DOC.findall(user)
        results = []
        for key, text in docs:
            labels = self.gold.get(text.replace("\u200b", ""), ["unknown"])
            if fault == "invalid":
                labels = ["not_a_class"]
            if fault == "drop" and key == docs[-1][0] and len(docs) > 1:
                continue
            item: dict[str, Any] = {"id": key}
            if "rationale" in system:
                item["rationale"] = "because"
            item["labels" if multi else "label"] = labels if multi else labels[0]
            results.append(item)
        content = json.dumps({"results": results})
        if fault == "malformed":
            content = content[: len(content) // 2]
        if fault == "empty":
            content = ""
        if fault == "prose":
            content = "Sure! Here is the JSON:\n```json\n" + content + "\n```"
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": content},
        }
        if body.get("logprobs"):
            choice["logprobs"] = {"content": self._logprobs(content)}
        counter = token_counter(str(body.get("model", "gpt-4o-mini")))  # as a real server
        # billed as providers bill it: the messages and a JSON schema response_format
        prompt_tokens = count_request(counter, body["messages"], body.get("response_format"))
        completion_tokens = counter.count(content) if content else 0
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return (
            200,
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "m"),
                "choices": [choice],
                "usage": usage,
            },
            {},
        )

    def _logprobs(self, content: str) -> list[dict[str, Any]]:
        """4-character tokens; a label's tokens share log(label_prob), the rest are certain."""
        values = {m.start(1): m.end(1) for m in re.finditer(r'"label[s]?": \[?"([^"]+)"', content)}
        spans = [(a, b) for a, b in values.items()]
        tokens = []
        for start in range(0, len(content), 4):
            piece = content[start : start + 4]
            inside = [s for s in spans if start < s[1] and start + len(piece) > s[0]]
            lp = 0.0
            if inside:
                a, b = inside[0]
                n = math.ceil((b - (a - a % 4)) / 4) or 1
                lp = math.log(self.label_prob) / n
            tokens.append(
                {"token": piece, "logprob": lp, "bytes": list(piece.encode()), "top_logprobs": []}
            )
        return tokens


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/stats":  # how many requests came, for a benchmark in another process
            self._send(200, {"requests": len(self.server.fake.requests)}, {})
        else:
            self._send(404, {"error": {"message": "no route"}}, {})

    def do_POST(self) -> None:
        fake = self.server.fake
        url = urlparse(self.path)
        azure = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", url.path)
        if url.path != "/v1/chat/completions" and not azure:
            self._send(404, {"error": {"message": f"no route {url.path}"}}, {})
            return
        if azure and "api-version" not in parse_qs(url.query):
            self._send(400, {"error": {"message": "api-version is required"}}, {})
            return
        key = self.headers.get("api-key") if azure else self.headers.get("Authorization")
        if not key:
            self._send(401, {"error": {"message": "no key"}}, {})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with fake.lock:
            fault = fake.faults.popleft() if fake.faults else None
            if fake.fail_every and (len(fake.requests) + 1) % fake.fail_every == 0:
                fault = "500"
            entry: dict[str, Any] = {
                "path": url.path,
                "body": body,
                "fault": fault,
                "deployment": azure.group(1) if azure else None,
                "key": key,
                "at": time.monotonic(),
                "usage": {"prompt_tokens": 0, "completion_tokens": 0},  # what it was billed
            }
            fake.requests.append(entry)
        if fault == "echo_key":  # some providers echo the key they were sent
            self._send(401, {"error": {"message": f"Incorrect API key provided: {key}"}}, {})
            return
        if fault == "slow" or fake.latency:
            time.sleep(5 if fault == "slow" else fake.latency)
        status, payload, headers = fake.answer(body, fault)
        if status == 200 and payload.get("usage"):
            entry["usage"] = payload["usage"]
        self._send(status, payload, headers)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeLLM) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.fake = fake

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def main() -> None:
    """Serve from a JSON config (gold, latency, fail_every) in a process of its own; prints the
    URL, then serves until killed."""
    import sys
    from pathlib import Path

    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    fake = FakeLLM(
        gold=config["gold"],
        latency=config.get("latency", 0.0),
        fail_every=config.get("fail_every", 0),
    )
    server = Server(fake)
    print(server.url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
