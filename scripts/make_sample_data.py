"""Generate the sample pair in ``data/``: a synthetic daytime and sunset scene with masks.

Everything is drawn from a fixed seed, so the files are reproducible and free to
redistribute. Run ``python scripts/make_sample_data.py`` to rebuild them.

* ``content.png``: blue daytime sky with soft clouds over a green hillside, a lake and a
  row of pale buildings.
* ``style.png``: a sunset: orange-red sky, dark warm hills and buildings, lake reflecting
  the sky; different layout from the content.
* ``content_mask.png`` / ``style_mask.png``: colour-coded masks in the paper's palette:
  blue = sky, green = hills, black = buildings, lightblue = water.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

OUT = Path(__file__).resolve().parents[1] / "data"
H, W = 264, 400
SKY, HILL, BUILDING, WATER = (0, 0, 255), (0, 255, 0), (0, 0, 0), (0, 255, 255)


def smooth_noise(rng: np.random.Generator, sigma: float, shape=(H, W)) -> np.ndarray:
    n = gaussian_filter(rng.standard_normal(shape), sigma)
    return (n - n.mean()) / (n.std() + 1e-9)


def scene(seed: int, horizon: float, water_line: float, buildings: list[tuple[int, int, int]],
          palette: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    t = y / H
    img = np.zeros((H, W, 3))
    labels = np.zeros((H, W), np.uint8)  # 0 sky, 1 hill, 2 building, 3 water
    hill_top = horizon * H + 18 * np.sin(x / 57 + seed) + 9 * np.sin(x / 23 + 2 * seed)
    water_top = water_line * H
    labels[y >= hill_top] = 1
    for left, width, height in buildings:
        top = water_top - height
        labels[(x >= left) & (x < left + width) & (y >= top) & (y < water_top)] = 2
    labels[y >= water_top] = 3
    # sky: vertical gradient plus clouds
    sky = palette["sky_top"] * (1 - t[..., None]) + palette["sky_bottom"] * t[..., None]
    clouds = np.clip(smooth_noise(rng, 12) * 0.5 + 0.1, 0, 1)[..., None]
    sky = sky * (1 - 0.35 * clouds) + palette["cloud"] * 0.35 * clouds
    hill = palette["hill"] * (1 + 0.12 * smooth_noise(rng, 2)[..., None]
                              + 0.08 * smooth_noise(rng, 8)[..., None])
    building = palette["building"] * (1 + 0.05 * smooth_noise(rng, 1)[..., None])
    windows = ((x.astype(int) % 9 < 3) & (y.astype(int) % 11 < 4))[..., None]
    building = np.where(windows, palette["window"], building)
    ripple = 0.06 * np.sin(y / 1.7 + smooth_noise(rng, 6) * 2)[..., None]
    mirror = np.clip(2 * water_top - y, 0, H - 1).astype(int)
    water = 0.55 * sky[mirror, x.astype(int)] + 0.45 * palette["water"] + ripple
    for k, layer in enumerate((sky, hill, building, water)):
        img = np.where((labels == k)[..., None], layer, img)
    img = gaussian_filter(img, (0.6, 0.6, 0))  # soften edges like a lens
    img += rng.normal(0, 0.012, img.shape)  # sensor noise
    colours = np.array([SKY, HILL, BUILDING, WATER], np.uint8)
    return np.clip(img, 0, 1), colours[labels]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    day = {
        "sky_top": np.array([0.25, 0.45, 0.85]), "sky_bottom": np.array([0.70, 0.82, 0.95]),
        "cloud": np.array([0.97, 0.97, 0.98]), "hill": np.array([0.30, 0.52, 0.22]),
        "building": np.array([0.86, 0.80, 0.68]), "window": np.array([0.35, 0.40, 0.48]),
        "water": np.array([0.12, 0.32, 0.50]),
    }
    sunset = {
        "sky_top": np.array([0.35, 0.10, 0.25]), "sky_bottom": np.array([0.98, 0.55, 0.18]),
        "cloud": np.array([0.95, 0.30, 0.20]), "hill": np.array([0.22, 0.12, 0.10]),
        "building": np.array([0.16, 0.10, 0.12]), "window": np.array([0.95, 0.75, 0.35]),
        "water": np.array([0.30, 0.12, 0.15]),
    }
    content, c_mask = scene(1, 0.50, 0.78, [(40, 60, 70), (120, 45, 95), (260, 80, 60)], day)
    style, s_mask = scene(7, 0.58, 0.72, [(200, 70, 80), (300, 40, 110)], sunset)
    for name, arr in (("content.png", content), ("style.png", style)):
        Image.fromarray((arr * 255 + 0.5).astype(np.uint8)).save(OUT / name, optimize=True)
    Image.fromarray(c_mask).save(OUT / "content_mask.png", optimize=True)
    Image.fromarray(s_mask).save(OUT / "style_mask.png", optimize=True)
    print(f"wrote {OUT}/content.png, style.png, content_mask.png, style_mask.png")


if __name__ == "__main__":
    main()
