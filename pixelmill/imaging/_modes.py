"""Image modes: bring any decoded mode into L, LA, RGB or RGBA, and drop alpha onto white."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image, ImageCms

if TYPE_CHECKING:
    import numpy as np

__all__ = ["WORKING_MODES", "flatten", "has_alpha", "to_rgb", "to_working"]

WORKING_MODES = frozenset({"L", "LA", "RGB", "RGBA"})
"""The modes every op and analysis accepts; `to_working` brings any other here."""

_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_SIXTEEN_BIT = 65535


def has_alpha(image: Image.Image) -> bool:
    """Whether some pixel may be transparent: an alpha band or a transparency key."""
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def to_working(image: Image.Image) -> Image.Image:
    """`image` in L, LA, RGB or RGBA, keeping its tonal range and its transparency.

    16-bit and 32-bit integer images are scaled to 8 bits (`v / 257`, rounded),
    or stretched from their own min..max when they hold values outside 0..65535;
    float images in 0..1 are scaled by 255, others stretched. `convert` would
    clip them instead (nearly all white, or all black). Palette and grey images
    with a transparency key gain an alpha band; CMYK goes to sRGB through its
    embedded ICC profile when it has a usable one (the profile is then dropped).
    Returns `image` itself when it is already in a working mode.
    """
    mode = image.mode
    if mode in WORKING_MODES and "transparency" not in image.info:
        return image
    if mode.startswith("I") or mode == "F":
        return _scale_to_l(image)
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode in ("1", "L", "La", "LA"):
        return image.convert("LA" if has_alpha(image) else "L")
    return image.convert("RGBA" if has_alpha(image) else "RGB")


def flatten(image: Image.Image) -> Image.Image:
    """`image` without alpha, composited onto white: RGBA becomes RGB, LA becomes L."""
    working = to_working(image)
    if working.mode not in ("LA", "RGBA"):
        return working
    base = working.mode[:-1]
    canvas = Image.new(base, working.size, 255 if base == "L" else (255, 255, 255))
    canvas.paste(working.convert(base), mask=working.getchannel("A"))
    canvas.info = dict(working.info)
    return canvas


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` as RGB, alpha composited onto white."""
    flat = flatten(image)
    return flat if flat.mode == "RGB" else flat.convert("RGB")


def _scale_to_l(image: Image.Image) -> Image.Image:
    import numpy as np  # for 16-bit and float images only

    values = np.asarray(image)
    if image.mode == "F":
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        unit = low >= 0.0 and high <= 1.0
        scaled = _stretch(values, 0.0, 1.0) if unit else _stretch(values, low, high)
    else:
        low, high = int(values.min()), int(values.max())
        if low >= 0 and high <= _SIXTEEN_BIT:
            # Integer arithmetic: exact rounding of v * 255 / 65535 without a float copy.
            scaled = (values.astype(np.uint32) + 128) // 257
        else:
            scaled = _stretch(values, low, high)
    result = Image.fromarray(scaled.astype(np.uint8))
    result.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return result


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    import numpy as np

    span = high - low
    if span <= 0:
        return np.full(values.shape, min(max(round(low), 0), 255), dtype=np.uint8)
    floats = (np.nan_to_num(values.astype(np.float32), nan=low) - low) * (255.0 / span)
    clipped: np.ndarray = np.clip(np.rint(floats), 0, 255)
    return clipped


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, profile, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            # A broken or non-CMYK profile must not fail a valid image: fall back
            # to Pillow's naive conversion, as a viewer without colour management would.
            pass
        else:
            if converted is not None:
                converted.info = {}
                return converted
    rgb = image.convert("RGB")
    rgb.info = {key: value for key, value in image.info.items() if key != "icc_profile"}
    return rgb
