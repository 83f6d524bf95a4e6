"""Synthetic, tissue-like source images and image comparison helpers."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Noise on a coarse grid, bilinearly upsampled by Pillow: cheap low-frequency texture in [0, 1]."""
    grid = rng.random((height // cell + 2, width // cell + 2), dtype=np.float32)
    coarse = Image.fromarray(grid, mode="F")
    return np.array(coarse.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def textured_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A coloured, tissue-like RGB uint8 image with blobs, gradients, fine texture and sharp grid lines.

    The grid lines and the corner marks make every tile distinct, so a misplaced or flipped tile
    lowers the PSNR against the source sharply.
    """
    rng = np.random.default_rng(seed)
    tissue = _smooth_noise(rng, height, width, 97)
    tissue *= 0.6
    tissue += 0.4 * _smooth_noise(rng, height, width, 23)
    nuclei = _smooth_noise(rng, height, width, 7)
    # Fine grain shared by the channels: integer noise is much cheaper than float noise here.
    fine = rng.integers(-8, 9, size=(height, width), dtype=np.int8).astype(np.float32)
    gy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    gx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]

    # Eosin-pink background with haematoxylin-purple "nuclei" where tissue and nuclei noise are high.
    nuclei -= 0.5
    nuclei *= 5.0
    np.clip(nuclei, 0.0, 1.0, out=nuclei)
    stain = np.clip((tissue - 0.45) * 4.0, 0.0, 1.0)
    stain *= nuclei
    out = np.empty((height, width, 3), dtype=np.uint8)
    weights = ((235.0, -60.0, -90.0), (200.0, -110.0, -60.0), (225.0, -40.0, 10.0))
    ramps = (12.0 * gx, 25.0 * gy, -20.0 * gx * gy)
    for channel, ((base, w_tissue, w_stain), ramp) in enumerate(zip(weights, ramps, strict=True)):
        value = tissue * w_tissue
        value += stain * w_stain
        value += fine
        value += ramp
        value += base
        np.clip(value, 0, 255, out=value)
        out[..., channel] = value

    # Sharp features: grid lines every 100 px and a bright diagonal, so tile placement is verifiable.
    out[::100, :, :] = (20, 40, 90)
    out[:, ::100, :] = (90, 20, 40)
    diag = np.arange(min(height, width))
    out[diag, diag, :] = (255, 255, 0)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for uint8 images of the same shape (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} != {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(255.0**2 / mse)
