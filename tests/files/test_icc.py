"""Colour profiles by hand: tone curves and their inverses."""

from __future__ import annotations

import numpy as np

from photostyle.files import icc


def test_a_parametric_curve_meets_itself_at_its_break_and_inverts_everywhere() -> None:
    """sRGB's curve as an ICC profile stores it (16.16 fixed point): its two pieces, left
    as written, miss each other by 8.5e-7 at the break; values in that gap had no
    inverse. The slope is adjusted so that they meet, and every 16-bit level survives
    encoded -> linear -> encoded, and linear -> encoded -> linear near the break."""
    fixed = (round(2.4 * 65536) / 65536, round(1 / 1.055 * 65536) / 65536,
             round(0.055 / 1.055 * 65536) / 65536, round(1 / 12.92 * 65536) / 65536,
             round(0.04045 * 65536) / 65536, 0.0, 0.0)
    g, a, b, c, d, e, f = fixed
    gap = (a * d + b) ** g + e - (c * d + f)
    assert abs(gap) > 1e-8  # the stored pieces do not meet
    g2, a2, b2, c2, d2, e2, f2 = icc._continuous(fixed)
    assert (g2, a2, b2, d2, e2, f2) == (g, a, b, d, e, f)
    assert abs((a * d + b) ** g + e - (c2 * d + f)) < 1e-15 and abs(c2 / c - 1) < 1e-3
    curve = icc.Curve(params=icc._continuous(fixed))
    levels = np.arange(65536) / 65535
    back = curve.to_encoded(curve.to_linear(levels))
    np.testing.assert_array_equal(np.round(back * 65535), np.arange(65536))
    near = np.linspace(c * d * 0.999, c * d * 1.001 + gap * 2, 10001)  # around the break
    np.testing.assert_allclose(curve.to_linear(curve.to_encoded(near)), near, rtol=1e-12)
    unfixed = icc.Curve(params=fixed)
    inside = near[(near > c * d) & (near < c * d + gap)]
    assert inside.size and not np.allclose(unfixed.to_linear(unfixed.to_encoded(inside)),
                                           inside, rtol=1e-9)
