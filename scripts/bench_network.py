"""The network's own cost: one forward and backward pass of the default layers' VGG19, the
step that dominates a transfer, in several numeric formats and layouts.

    python scripts/bench_network.py [--size 400] [--repeat 8] [--modes fp32,channels_last,...]

Modes: ``fp32`` (the default), ``channels_last`` (NHWC tensors and weights), ``bf16`` and
``fp16`` (autocast; on a CPU without native bfloat16/float16 arithmetic these are far
slower), ``compile`` (``torch.compile`` of the network; the first passes compile). Prints the
milliseconds per pass (after two warm-up passes) and the gradient's relative difference
from fp32's, so a faster format can be weighed against what it changes. Runs on the CPU, or
on ``--device cuda`` where there is one. Uses the embedded weights (the same cost as any).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from photostyle.engine.config import TransferConfig
from photostyle.engine.layers import layer_index

#: The default style and content layers (relu3_1 is both since issue 33; relu3_2 before).
LAYERS = list(TransferConfig().layers_in_use())


def make_step(net: torch.nn.Module, mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """One forward and backward pass of ``net`` in ``mode``; returns the input's gradient."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
    layout = torch.channels_last if mode == "channels_last" else torch.contiguous_format
    net.to(memory_format=layout)
    run = torch.compile(net) if mode == "compile" else net

    def step(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().clone().requires_grad_(True)
        inp = x.contiguous(memory_format=layout)
        if dtype is None:
            feats = run(inp)
        else:
            with torch.autocast(x.device.type, dtype=dtype):
                feats = run(inp)
        loss = sum((f.float() ** 2).mean() for f in feats.values())
        loss.backward()
        assert x.grad is not None
        return x.grad

    return step


def main(argv: list[str] | None = None) -> int:
    from photostyle.engine.network import load_extractor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=400, help="long side (the default working size)")
    ap.add_argument("--repeat", type=int, default=8, help="timed passes per mode")
    ap.add_argument("--modes", default="fp32,channels_last,compile",
                    help="comma-separated: fp32, channels_last, bf16, fp16, compile")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device(args.device)
    net = load_extractor(LAYERS, "embedded").to(device)
    x = torch.rand(1, 3, round(args.size * 2 / 3), args.size, device=device)
    reference = make_step(net, "fp32")(x)
    deepest = max(LAYERS, key=layer_index().__getitem__)
    print(f"VGG19 to {deepest}, one forward + backward at {args.size}x{x.shape[2]} on "
          f"{device} ({torch.get_num_threads()} threads, torch {torch.__version__})")
    for mode in args.modes.split(","):
        step = make_step(net, mode.strip())
        for _ in range(2):
            step(x)
        start = time.perf_counter()
        for _ in range(args.repeat):
            grad = step(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - start) / args.repeat * 1000
        diff = float((grad.float() - reference).norm() / reference.norm())
        print(f"{mode:>14}: {ms:9.1f} ms per pass; gradient differs from fp32 by {diff:.1e}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
