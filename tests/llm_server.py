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
    # per document text, the probability its answer's tokens carry (else label_prob): a model
    # whose logprobs are informative, as in bench/review_sim.py
    confidence: dict[str, float] = field(default_factory=dict)
    supports_schema: bool = True
    supports_logprobs: bool = True
    faults: deque[str] = field(default_factory=deque)  # consumed one per request
    fail_every: int = 0  # every n-th request answers 500 (for benchmarks in another process)
    latency: float = 0.0
    # a rate limit enforced over any 1-second window, as Azure OpenAI enforces per-minute
    # limits: more requests than this in the last second are answered 429 (retry-after-ms)
    per_second: int = 0
    announce: bool = False  # send x-ratelimit-* headers (limit = per_second * 60 a minute)
    throttled: int = 0  # 429s answered by the per-second limit
    arrivals: deque[float] = field(default_factory=deque)
    # the Batch API: uploaded files, batches, and how many looks a batch takes to complete
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_polls: int = 2
    batch_fate: str = "completed"  # or "expired": only the first half of the requests answered
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
        probs = []  # per answer, the probability of its label's tokens
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
            probs.append(self.confidence.get(text.replace("\u200b", ""), self.label_prob))
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
            choice["logprobs"] = {"content": self._logprobs(content, probs)}
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

    def run_batch(self, batch: dict[str, Any]) -> None:
        """Answer a batch's input file into an output and an error file, as a provider does."""
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].splitlines() if x]
        if self.batch_fate == "expired":
            lines = lines[: len(lines) // 2]
        out, errors = [], []
        for n, line in enumerate(lines):
            with self.lock:
                fault = self.faults.popleft() if self.faults else None
                entry = {"path": "batch", "body": line["body"], "fault": fault, "at": 0.0}
                self.requests.append(entry)
            status, payload, _ = self.answer(line["body"], fault)
            if status == 200:
                entry["usage"] = payload["usage"]
            result = {
                "id": f"batch_req_{n}",
                "custom_id": line["custom_id"],
                "response": {"status_code": status, "request_id": f"r{n}", "body": payload},
                "error": None,
            }
            (out if status == 200 else errors).append(json.dumps(result))
        for kind, rows in (("output", out), ("error", errors)):
            if rows:
                file_id = f"file-{kind}-{batch['id']}"
                self.files[file_id] = ("\n".join(rows) + "\n").encode()
                batch[f"{kind}_file_id"] = file_id
        batch["status"] = self.batch_fate
        batch["request_counts"] = {
            "total": len(lines),
            "completed": len(out),
            "failed": len(errors),
        }

    def _logprobs(self, content: str, probs: list[float] | None = None) -> list[dict[str, Any]]:
        """4-character tokens; a label's tokens share log(p) (its answer's entry of ``probs``,
        else label_prob), the rest are certain."""
        values = {m.start(1): m.end(1) for m in re.finditer(r'"label[s]?": \[?"([^"]+)"', content)}
        spans = [(a, b) for a, b in values.items()]
        share = dict(zip(spans, probs or [], strict=False))
        tokens = []
        for start in range(0, len(content), 4):
            piece = content[start : start + 4]
            inside = [s for s in spans if start < s[1] and start + len(piece) > s[0]]
            lp = 0.0
            if inside:
                a, b = inside[0]
                n = math.ceil((b - (a - a % 4)) / 4) or 1
                lp = math.log(share.get(inside[0], self.label_prob)) / n
            tokens.append(
                {"token": piece, "logprob": lp, "bytes": list(piece.encode()), "top_logprobs": []}
            )
        return tokens


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        path = re.sub(r"^/(v1|openai)", "", urlparse(self.path).path)
        if self.path == "/stats":  # how many requests came, for a benchmark in another process
            self._send(200, {"requests": len(fake.requests), "throttled": fake.throttled}, {})
        elif m := re.fullmatch(r"/batches/([^/]+)", path):
            batch = fake.batches.get(m.group(1))
            if batch is None:
                self._send(404, {"error": {"message": "no such batch"}}, {})
                return
            batch["polls"] += 1
            if batch["status"] == "in_progress" and batch["polls"] >= fake.batch_polls:
                fake.run_batch(batch)
            self._send(200, {k: v for k, v in batch.items() if k != "polls"}, {})
        elif m := re.fullmatch(r"/files/([^/]+)/content", path):
            data = fake.files.get(m.group(1))
            if data is None:
                self._send(404, {"error": {"message": "no such file"}}, {})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._send(404, {"error": {"message": "no route"}}, {})

    def _batch_api(self, path: str) -> None:
        """``POST /files`` (multipart upload), ``/batches``, ``/batches/{id}/cancel``."""
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if path == "/files":
            import email.parser
            import email.policy

            head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
            data = b""
            for part in message.iter_parts():
                if part.get_param("name", header="content-disposition") == "file":
                    data = part.get_payload(decode=True) or b""
            file_id = f"file-in-{len(fake.files)}"
            fake.files[file_id] = data
            self._send(
                200,
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": 0,
                    "filename": "input.jsonl",
                    "purpose": "batch",
                },
                {},
            )
            return
        if path == "/batches":
            body = json.loads(raw)
            batch_id = f"batch_{len(fake.batches) + 1}"
            fake.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "status": "in_progress",
                "created_at": 0,
                "polls": 0,
            }
            self._send(200, {k: v for k, v in fake.batches[batch_id].items() if k != "polls"}, {})
            return
        if m := re.fullmatch(r"/batches/([^/]+)/cancel", path):
            batch = fake.batches[m.group(1)]
            batch["status"] = "cancelled"
            self._send(200, {k: v for k, v in batch.items() if k != "polls"}, {})
            return
        self._send(404, {"error": {"message": f"no route {path}"}}, {})

    def do_POST(self) -> None:
        fake = self.server.fake
        url = urlparse(self.path)
        batch_path = re.sub(r"^/(v1|openai)", "", url.path)
        if batch_path == "/files" or batch_path.startswith("/batches"):
            self._batch_api(batch_path)
            return
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
        limit_headers: dict[str, str] = {}
        with fake.lock:
            if fake.per_second:
                now = time.monotonic()
                while fake.arrivals and fake.arrivals[0] <= now - 1.0:
                    fake.arrivals.popleft()
                if fake.announce:
                    limit_headers = {
                        "x-ratelimit-limit-requests": str(fake.per_second * 60),
                        "x-ratelimit-remaining-requests": str(
                            max(0, fake.per_second - len(fake.arrivals) - 1)
                        ),
                        "x-ratelimit-reset-requests": "1s",
                    }
                if len(fake.arrivals) >= fake.per_second:
                    fake.throttled += 1
                    wait_ms = max(1, int((fake.arrivals[0] + 1.0 - now) * 1000))
                    limit_headers["retry-after-ms"] = str(wait_ms)
                    self._send(429, {"error": {"message": "rate limited"}}, limit_headers)
                    return
                fake.arrivals.append(now)
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
        self._send(status, payload, {**limit_headers, **headers})

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
    """Serve from a JSON config (gold, latency, fail_every, per_second, announce) in a process of
    its own; prints the
    URL, then serves until killed."""
    import sys
    from pathlib import Path

    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    fake = FakeLLM(
        gold=config["gold"],
        latency=config.get("latency", 0.0),
        fail_every=config.get("fail_every", 0),
        per_second=config.get("per_second", 0),
        announce=config.get("announce", False),
    )
    server = Server(fake)
    print(server.url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
