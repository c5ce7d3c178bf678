"""Quality regression of the default settings on a few of the paper's pairs (needs ../shared).

The defaults (with VGG19 up to relu3_4: the layers the shared weights cover) run on three
``../shared/dpst`` pairs, each scaled to a 300-px long side so that the test stays short,
through the same path as ``photostyle ablate --pairs``. Four measures of
``photostyle evaluate`` (style distance, gradient SSIM, local affine residual, colour
painted into flat regions) must stay within a margin of the values recorded in
``tests/engine/regression_values.json``, and the last three better than the paper's own
results on the same pairs at the same size.

To re-record after a deliberate change of the defaults::

    PHOTOSTYLE_RECORD_REGRESSION=1 python -m pytest tests/engine/test_regression.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from photostyle import TransferConfig
from photostyle.runs.ablate import REFERENCE, find_pairs, run_ablation

from ..conftest import DPST, SHARED_WEIGHTS, requires_shared

pytestmark = requires_shared

RECORD = Path(__file__).with_name("regression_values.json")
PAIRS = (1, 17, 48)
LONG_SIDE = 300
#: How far each measure may drift from its recorded value before the test fails (worse
#: direction only): style distance and residual relative (plus a small absolute floor for
#: tiny values), SSIM absolute. Other CPUs round differently, and L-BFGS amplifies that.
MARGIN = {"style_sw": 0.10, "affine_residual": 0.25, "flat_paint": 0.15,
          "structure_ssim": 0.02}
FLOOR = {"style_sw": 0.05, "affine_residual": 0.02, "flat_paint": 0.1}


def _small_pairs(root: Path) -> Path:
    """Copies of the chosen pairs at ``LONG_SIDE`` px (masks resized by nearest neighbour)."""
    layout = {"input": "in{}", "style": "tar{}", "seg_in": "in{}", "seg_tar": "tar{}",
              "results": "best{}_t_1000"}
    for folder, pattern in layout.items():
        (root / folder).mkdir(parents=True)
        for i in PAIRS:
            name = pattern.format(i) + ".png"
            with Image.open(DPST / folder / name) as im:
                scale = LONG_SIDE / max(im.size)
                size = (round(im.width * scale), round(im.height * scale))
                nearest = folder.startswith("seg")
                resample = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
                im.convert("RGB").resize(size, resample).save(root / folder / name)
    return root


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    root = _small_pairs(tmp_path_factory.mktemp("dpst_small"))
    config = TransferConfig(vgg_weights=str(SHARED_WEIGHTS), segment="none")
    result = run_ablation(find_pairs(root), config, {}, tmp_path_factory.mktemp("out"))
    assert result.status == "completed"
    return {(r["pair"], r["variant"]): r for r in result.rows}


def test_defaults_stay_within_margin_of_recorded_values(
    rows: dict[tuple[str, str], dict],
) -> None:
    ours = {pair: row for (pair, variant), row in rows.items() if variant != REFERENCE}
    measured = {pair: {m: row[m] for m in MARGIN} for pair, row in ours.items()}
    if os.environ.get("PHOTOSTYLE_RECORD_REGRESSION"):
        RECORD.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"recorded {RECORD.name}")
    recorded = json.loads(RECORD.read_text())
    assert set(measured) == set(recorded) == {f"in{i}" for i in PAIRS}
    for pair, values in recorded.items():
        got = measured[pair]
        for key in ("style_sw", "affine_residual", "flat_paint"):
            limit = values[key] * (1 + MARGIN[key]) + FLOOR[key]
            assert got[key] <= limit, (pair, key, got[key], limit)
        assert got["structure_ssim"] >= values["structure_ssim"] - MARGIN["structure_ssim"], (
            pair, got)


def test_defaults_beat_the_published_results_on_structure_and_photorealism(
    rows: dict[tuple[str, str], dict],
) -> None:
    ours = [row for (_, variant), row in rows.items() if variant != REFERENCE]
    paper = [row for (_, variant), row in rows.items() if variant == REFERENCE]
    assert len(ours) == len(paper) == len(PAIRS)

    def mean(sel: list[dict], key: str) -> float:
        return sum(r[key] for r in sel) / len(sel)

    # Not the style distance: since issue 33 the default stops earlier, which blind judges
    # prefer but which leaves more style distance than the previous default: over the 40
    # pairs at 700 px it stays below the paper's (docs/RESULTS.md), on these three small
    # pairs it need not (pair 17 alone is far from its style). The recorded values above
    # guard it against regressions.
    assert mean(ours, "structure_ssim") > mean(paper, "structure_ssim")
    assert mean(ours, "affine_residual") < mean(paper, "affine_residual")
    assert mean(ours, "flat_paint") < mean(paper, "flat_paint")
