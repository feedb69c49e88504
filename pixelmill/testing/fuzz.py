"""Mutated images for fuzzing a pipeline: valid small files of many formats, seeded damage.

`write_fuzz_corpus(directory, count, seed)` writes `count` files, each a
small valid image of one format (round robin over `fuzz_seeds()`) with one
or more seeded mutations: bit flips, truncations, header field edits (a
byte, a 16- or 32-bit field set to 0, 1, -1 or a large value), chunk edits
(for PNG a chunk's length or type changed, for JPEG a segment's length or a
frame's size), dropped, duplicated or inserted ranges. The same seed writes
the same bytes. Most files keep their format's extension; every tenth has
none, so that a directory walk must sniff it.
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import TYPE_CHECKING, Any

from PIL import Image

from pixelmill.imaging.formats import DEFAULT_FORMATS, extensions_of, pillow_formats
from pixelmill.testing.images import encoded, photo_like

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

__all__ = [
    "EXPECTED_CLASSES",
    "MUTATIONS",
    "fuzz_seeds",
    "mutate",
    "unexpected",
    "write_fuzz_corpus",
]

EXPECTED_CLASSES = ("input.", "resource.")
"""The failure classes a damaged input may end with: its own fault, or too costly to
decode. Any other (`internal.error`, `worker.crashed`, `worker.timeout`) is a bug."""

_SIZE = (24, 16)


def fuzz_seeds() -> dict[str, bytes]:
    """A small valid file of each format read by default that can be made here, by format.

    Pillow writes most of them; XPM, SUN, XVTHUMB, DCX, CUR, FITS and GBR
    are built by hand. Not covered (no writer, no simple layout): FLI, FTEX,
    MCIDAS, PIXAR, PSD, IMT and PCD.
    """
    pillow_formats(["HEIF"])  # Pillow writes HEIC once pillow-heif is registered
    picture = photo_like(_SIZE, seed=11)
    seeds = {
        fmt: encoded(picture, fmt)
        for fmt in ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "HEIF", "DDS", "DIB",
                    "ICO", "JPEG2000", "PCX", "PPM", "QOI", "SGI", "TGA", "SPIDER")
    }
    seeds["ICNS"] = encoded(picture.resize((16, 16)), "ICNS")
    seeds["BLP"] = encoded(picture.convert("P"), "BLP")
    seeds["MSP"] = encoded(picture.convert("1"), "MSP")
    seeds["XBM"] = encoded(picture.convert("1"), "XBM")
    grey = picture.convert("L")
    seeds["XPM"] = _xpm()
    seeds["SUN"] = struct.pack(">8I", 0x59A66A95, 24, 16, 8, 24 * 16, 1, 0, 0) + grey.tobytes()
    seeds["XVTHUMB"] = b"P7 332\n#END_OF_COMMENTS\n24 16 255\n" + grey.tobytes()
    seeds["DCX"] = struct.pack("<II", 987654321, 12) + b"\0\0\0\0" + seeds["PCX"]
    # A cursor: one entry (hotspot 1,1) over a DIB of twice the height (image + mask).
    dib = encoded(photo_like((24, 32), seed=11), "DIB")
    seeds["CUR"] = struct.pack("<3H", 0, 2, 1) + struct.pack("<4B2H2I", 24, 16, 0, 0, 1, 1,
                                                             len(dib), 22) + dib
    seeds["FITS"] = _fits(grey)
    seeds["GBR"] = _gbr(grey)
    return {fmt: data for fmt, data in seeds.items() if fmt in DEFAULT_FORMATS}


def _xpm() -> bytes:
    rows = ['"' + "".join(".#"[(x + y) % 2] for x in range(24)) + '"' for y in range(16)]
    body = ",\n".join(['"24 16 2 1"', '". c #ff0000"', '"# c #0000ff"', *rows])
    return b"/* XPM */\nstatic char *image[] = {\n" + body.encode() + b"\n};\n"


def _fits(grey: Image.Image) -> bytes:
    cards = ["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 2", "NAXIS1  = 24", "NAXIS2  = 16", "END"]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode()
    return header + grey.tobytes().ljust(2880, b"\0")


def _gbr(grey: Image.Image) -> bytes:
    name = b"fuzz\0"
    header = struct.pack(">7I", 28 + len(name), 2, 24, 16, 1, 0x47494D50, 10)
    return header + name + grey.tobytes()


# -- mutations ------------------------------------------------------------------


def _flip_bits(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(1, len(data)):]


def _edit_header(data: bytearray, rng: random.Random) -> None:
    width = rng.choice((1, 2, 4))
    position = rng.randrange(max(1, min(len(data), 64) - width + 1))
    value = rng.choice((0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF))
    field = (value & ((1 << (8 * width)) - 1)).to_bytes(width, rng.choice(("big", "little")))
    data[position:position + width] = field


def _edit_chunk(data: bytearray, rng: random.Random) -> None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        starts = _png_chunks(bytes(data))
        if starts:
            start = rng.choice(starts)
            if rng.random() < 0.5:
                length = rng.choice((0, 13, 0x7FFFFFFF, 2**31))
                data[start:start + 4] = struct.pack(">I", length)
            else:
                kind = rng.choice((b"IDAT", b"IEND", b"acTL", b"zTXt", b"xxxx"))
                data[start + 4:start + 8] = kind
            return
    if data[:2] == b"\xff\xd8":
        markers = [
            i for i in range(2, len(data) - 8) if data[i] == 0xFF and 0xC0 <= data[i + 1] <= 0xFE
        ]
        if markers:
            start = rng.choice(markers)
            if 0xC0 <= data[start + 1] <= 0xC3 and rng.random() < 0.7:  # a frame's height, width
                sizes = (rng.choice((0, 1, 65535)), rng.choice((0, 1, 65535)))
                data[start + 5:start + 9] = struct.pack(">HH", *sizes)
            else:
                data[start + 2:start + 4] = struct.pack(">H", rng.choice((0, 1, 2, 65535)))
            return
    _edit_header(data, rng)


def _png_chunks(data: bytes) -> list[int]:
    starts, position = [], 8
    while position + 8 <= len(data):
        starts.append(position)
        (length,) = struct.unpack(">I", data[position:position + 4])
        position += 12 + length
    return starts


def _splice(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 64))
    match rng.randrange(3):
        case 0:
            del data[start:end]
        case 1:
            data[start:start] = data[start:end]
        case _:
            data[start:start] = rng.randbytes(end - start)


def _deflate_bomb(data: bytearray, rng: random.Random) -> None:
    """A PNG's pixels replaced by a stream that inflates far past what its size needs."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        _flip_bits(data, rng)
        return
    for start in _png_chunks(bytes(data)):
        if data[start + 4:start + 8] == b"IDAT":
            (length,) = struct.unpack(">I", data[start:start + 4])
            body = zlib.compress(b"\0" * rng.choice((10**5, 10**6, 10**7)))
            chunk = struct.pack(">I", len(body)) + b"IDAT" + body
            chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
            data[start:start + 12 + length] = chunk
            return


MUTATIONS: dict[str, Callable[[bytearray, random.Random], None]] = {
    "bit_flips": _flip_bits,
    "truncation": _truncate,
    "header_field": _edit_header,
    "chunk_field": _edit_chunk,
    "splice": _splice,
    "deflate_bomb": _deflate_bomb,
}
"""The mutations `mutate` draws from, by name."""


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, tuple[str, ...]]:
    """`data` with one to three mutations drawn by `rng`; and their names."""
    mutated = bytearray(data)
    names = tuple(rng.choice(list(MUTATIONS)) for _ in range(rng.choice((1, 1, 1, 2, 3))))
    for name in names:
        if mutated:
            MUTATIONS[name](mutated, rng)
    return bytes(mutated), names


def write_fuzz_corpus(directory: Path, count: int, seed: int = 0) -> list[Path]:
    """Write `count` mutated images under `directory` (made if missing); return their paths.

    Files are named `NNNNN-FORMAT-MUTATIONS.EXT`; every tenth has no extension.
    """
    directory.mkdir(parents=True, exist_ok=True)
    seeds = fuzz_seeds()
    formats = sorted(seeds)
    rng = random.Random(seed)
    paths = []
    for number in range(count):
        fmt = formats[number % len(formats)]
        data, names = mutate(seeds[fmt], rng)
        extension = "" if number % 10 == 9 else min(extensions_of([fmt]), default="")
        path = directory / f"{number:05d}-{fmt.lower()}-{'+'.join(names)}{extension}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def unexpected(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The items of a `summary.json` that ended neither done (or cached) nor with one
    of the `EXPECTED_CLASSES`."""
    return [
        item for item in items
        if item["status"] not in ("done", "cached")
        and not str(item["reason"]).startswith(EXPECTED_CLASSES)
    ]
