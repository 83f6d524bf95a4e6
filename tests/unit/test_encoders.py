import io

import numpy as np
import pytest
from PIL import Image
from wsi.config import ConfigError, load_settings
from wsi.encoders import encode, encode_png

from tests.support.source import textured_image


def textured(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:128, 0:128]
    smooth = np.stack([(x * 2) % 256, (y * 2) % 256, (x + y) % 256], -1)
    return np.clip(smooth + rng.integers(-8, 8, smooth.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_png_levels_are_lossless(level):
    pixels = textured()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels, level=level)))), pixels)


def test_higher_png_levels_are_smaller_and_reach_encode():
    pixels = textured_image(256, 256, seed=2)  # tissue-like: what slides hold
    sizes = [len(encode(pixels, "image/png", png_level=level)) for level in (0, 1, 9)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_png_compression_level_setting():
    assert load_settings({"WholeSlideImaging": {"PngCompressionLevel": 6}}).png_compression_level == 6
    assert load_settings({}).png_compression_level == 1
    with pytest.raises(ConfigError, match="PngCompressionLevel: expected a whole number from 0 to 9"):
        load_settings({"WholeSlideImaging": {"PngCompressionLevel": 10}})
