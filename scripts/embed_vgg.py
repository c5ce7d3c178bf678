"""Derive the VGG19 weights file embedded in photostyle from the original weights.

Usage (from the repository root)::

    python scripts/embed_vgg.py ~/.cache/torch/hub/checkpoints/vgg19-d01eb7cb.pth
    python scripts/embed_vgg.py ../shared/weights/vgg19-conv1_1-conv3_4-imagenet.pth

The source is either the published original VGG19 (``vgg19-d01eb7cb.pth``: Simonyan and
Zisserman's Caffe-trained weights in Justin Johnson's PyTorch conversion, Caffe input
convention, which is folded into the first convolution) or a file in ``../shared``'s layout
(torchvision keys, photostyle's input convention already folded in). Either way the output
holds the first eight convolutions (conv1_1 ... conv3_4, ``features.0`` ... ``features.16``):
the six that the default layers use (up to conv3_2, for relu3_2) exactly, in float32, and
conv3_3 and conv3_4 in float16 (half the space; their features stay within about 1e-3
relative, see the tests). The file is written deterministically, so that its SHA-256 can be
recorded in :data:`photostyle.engine.network.EMBEDDED_SHA256`; the script prints it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photostyle.engine.network import (  # noqa: E402
    EMBEDDED_EXACT,
    EMBEDDED_LAST,
    EMBEDDED_PATH,
    fold_caffe_input,
    has_caffe_signature,
    read_state_dict,
)


def derive(source: Path) -> dict:
    """The embedded state dict from ``source`` (see the module's docstring)."""
    import torch

    state = dict(read_state_dict(source))
    if has_caffe_signature(state):
        state = fold_caffe_input(state)
    out = {}
    for index in (0, 2, 5, 7, 10, 12, 14, 16):
        if index > EMBEDDED_LAST:
            break
        for part in ("weight", "bias"):
            tensor = state[f"features.{index}.{part}"].detach().float().contiguous()
            out[f"features.{index}.{part}"] = (tensor if index <= EMBEDDED_EXACT
                                               else tensor.to(torch.float16))
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="vgg19-d01eb7cb.pth or a ../shared-layout file")
    parser.add_argument("--out", type=Path, default=EMBEDDED_PATH)
    args = parser.parse_args(argv)
    state = derive(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()  # not the file name: torch.save names the archive after it
    torch.save(state, buffer)
    temp = args.out.with_name(args.out.name + ".tmp")
    temp.write_bytes(buffer.getvalue())
    temp.replace(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
