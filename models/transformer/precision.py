"""Numeric precision on CPU: bf16 autocast where the CPU computes bf16 natively, int8 for scoring, threads.

`auto` (the default for training and scoring) means bf16 where the CPU has AVX-512 BF16 or AMX and fp32
elsewhere, resolved on the machine that runs the work: a model trained with bf16 on one machine scores in
fp32 on a CPU that would only emulate bf16.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Any, Iterator

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")
"""Resolved precisions for training (bf16 = autocast on CPU)."""
INFERENCE_PRECISIONS = ("fp32", "bf16", "int8")
"""Resolved precisions for scoring; int8 = dynamic quantization of the encoder's Linear layers."""
LEGACY_ALIASES = {"default": "auto", None: "auto", "": "auto"}
"""Older scoring calls and model signatures said "default" for what is now "auto"."""


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run with `num_threads` intra-op threads and restore the caller's setting afterwards."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it.

    Measured on a 2-core AMD Zen 3 (AVX2 only): bf16 autocast scored about 5x *slower* than fp32, whereas on Zen 4
    (AVX512-BF16) it is about 2x faster (docs/PERFORMANCE.md). Unknown platforms count as not fast.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = set(handle.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def warn_if_slow_bf16(precision: str) -> None:
    if precision == "bf16" and not cpu_has_fast_bf16():
        warnings.warn(
            "bf16 was requested but this CPU has no native bfloat16 (AVX512-BF16 / AMX): torch emulates it and runs "
            "several times slower than fp32; use precision='fp32' (or 'int8' for scoring) on this machine",
            RuntimeWarning,
            stacklevel=3,
        )




def resolve_precision(precision: str | None, allowed: tuple[str, ...] = INFERENCE_PRECISIONS) -> str:
    """`auto` (or a legacy "default"/None) -> bf16 on CPUs with native bf16, else fp32; others pass if allowed."""
    value = LEGACY_ALIASES.get(precision, precision)  # type: ignore[arg-type]
    if value == "auto":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if value not in allowed:
        raise ValueError(f"precision must be auto or one of {allowed}, got {precision!r}")
    return str(value)


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of `model` with the encoder's Linear layers dynamically quantized to int8 (CPU scoring only).

    Kept in float32: the task heads (negligible compute, and they decide near-ties) and every down-projection
    (in_features > out_features: the FFN output layer in BERT-style encoders). That layer reads GELU activations
    with large outliers that per-tensor int8 rounds badly: on a MiniLM fine-tuned on Drugs.com sentiment (392
    held-out reviews), quantizing every Linear flipped 8.4% of decisions (macro-F1 0.536 -> 0.485); keeping the
    down-projections in fp32 flipped 3.8% (0.510). int8 stays an opt-in speed switch, not the default.
    """
    quantized = copy.deepcopy(model).eval()
    names = {name for name, module in quantized.encoder.named_modules()
             if isinstance(module, nn.Linear) and module.in_features <= module.out_features}
    with warnings.catch_warnings():
        # torch 2.13 deprecates eager-mode quantization in favour of torchao (not a dependency here); the API
        # still works and is what docs/PERFORMANCE.md records.
        warnings.simplefilter("ignore")
        quantized.encoder = torch.ao.quantization.quantize_dynamic(
            quantized.encoder, {name: torch.ao.quantization.default_dynamic_qconfig for name in names},
            dtype=torch.qint8)
    return quantized
