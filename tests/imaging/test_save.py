"""Saving: atomic, inside the output directory, never over an input, errors classified."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from pixelmill import errors
from pixelmill.imaging._output_paths import OutputTarget
from pixelmill.imaging.save import output_path, save_image, translate_write_error
from pixelmill.testing.images import write_image

PIECES = [
    "..",
    ".",
    "",
    "/",
    "\\",
    "\x00",
    "/etc",
    "~",
    "\n",
    "é",
    "escape",
    "\ud800",
    "x" * 300,
    "{}",
]
hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=4).map("".join)


def temp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.startswith(".pixelmill-")]


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stem=hostile,
    rel_dir=hostile,
    template=st.sampled_from(["{stem}.{ext}", "{stem}", "t_{stem}.{ext}"]),
)
def test_save_never_escapes_the_output_dir_nor_overwrites_the_input(
    stem: str, rel_dir: str, template: str, tmp_path: Path
) -> None:
    source_dir, output_dir = tmp_path / "in", tmp_path / "out"
    if not output_dir.exists():
        source_dir.mkdir()
        output_dir.mkdir()
        write_image(source_dir / "photo.png")
        (output_dir / "escape").symlink_to(source_dir, target_is_directory=True)
    source = source_dir / "photo.png"
    original = source.read_bytes()
    target = OutputTarget(output_dir=output_dir, stem=stem, rel_dir=rel_dir)
    try:
        written = save_image(
            Image.new("RGB", (4, 4)), source=source, target=target, format="png", template=template
        )
    except errors.OutputConflictError:
        pass
    else:
        assert written.resolve().is_relative_to(output_dir.resolve())
        assert written.is_file()
    assert source.read_bytes() == original
    assert tree(source_dir) == {"photo.png"}
    assert tree(tmp_path) - {f"out/{p}" for p in tree(output_dir)} == {"in", "in/photo.png", "out"}
    assert temp_files(output_dir) == []


def test_save_writes_under_rel_dir_creating_it(tmp_path: Path) -> None:
    target = OutputTarget(output_dir=tmp_path, stem="a", rel_dir="x/y")
    written = save_image(Image.new("RGB", (4, 4)), source=tmp_path / "in.png", target=target)
    assert written == tmp_path.resolve() / "x" / "y" / "a.jpg"
    with Image.open(written) as saved:
        assert saved.format == "JPEG"


def test_output_path_formats_the_template() -> None:
    target = OutputTarget(output_dir=Path("/out"), stem="a", rel_dir="sub")
    assert output_path(target, template="{stem}_t.{ext}", ext="webp") == Path("/out/sub/a_t.webp")


def test_save_refuses_to_overwrite_the_input(tmp_path: Path) -> None:
    source = write_image(tmp_path / "a.jpg", color=(1, 2, 3))
    original = source.read_bytes()
    target = OutputTarget(output_dir=tmp_path, stem="a")
    with pytest.raises(errors.OutputConflictError, match="would overwrite the input"):
        save_image(Image.new("RGB", (4, 4)), source=source, target=target)
    assert source.read_bytes() == original


def test_save_refuses_a_hard_link_to_the_input(tmp_path: Path) -> None:
    source = write_image(tmp_path / "in.png")
    (tmp_path / "out").mkdir()
    os.link(source, tmp_path / "out" / "a.png")
    target = OutputTarget(output_dir=tmp_path / "out", stem="a")
    with pytest.raises(errors.OutputConflictError):
        save_image(Image.new("RGB", (4, 4)), source=source, target=target, format="png")


def test_save_replaces_an_earlier_output_atomically(tmp_path: Path) -> None:
    target = OutputTarget(output_dir=tmp_path, stem="a")
    first = save_image(Image.new("RGB", (4, 4)), source=tmp_path / "in.png", target=target)
    second = save_image(Image.new("RGB", (8, 8)), source=tmp_path / "in.png", target=target)
    assert first == second
    with Image.open(second) as saved:
        assert saved.size == (8, 8)
    assert temp_files(tmp_path) == []


def test_a_failed_write_leaves_no_temp_file_and_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = OutputTarget(output_dir=tmp_path, stem="a")
    written = save_image(Image.new("RGB", (4, 4)), source=tmp_path / "in.png", target=target)
    before = written.read_bytes()

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(errors.NoSpaceError, match="no space left"):
        save_image(Image.new("RGB", (8, 8)), source=tmp_path / "in.png", target=target)
    assert written.read_bytes() == before
    assert temp_files(tmp_path) == []


def test_a_vanished_output_dir_is_missing_and_not_recreated(tmp_path: Path) -> None:
    target = OutputTarget(output_dir=tmp_path / "gone", stem="a", rel_dir="sub")
    with pytest.raises(errors.OutputMissingError):
        save_image(Image.new("RGB", (4, 4)), source=tmp_path / "in.png", target=target)
    assert not (tmp_path / "gone").exists()


def test_saving_without_an_output_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="no output directory"):
        save_image(
            Image.new("RGB", (4, 4)),
            source=tmp_path / "in.png",
            target=OutputTarget(output_dir=None, stem="a"),
        )


def test_rgba_saved_as_jpeg_is_composited_onto_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 8, 16))
    written = save_image(
        image, source=tmp_path / "in.png", target=OutputTarget(output_dir=tmp_path, stem="a")
    )
    with Image.open(written) as saved:
        assert saved.mode == "RGB"
        assert np.allclose(np.asarray(saved)[8, 12], (255, 255, 255), atol=4)
        assert np.allclose(np.asarray(saved)[8, 2], (0, 0, 255), atol=8)


def test_rgba_saved_as_png_or_webp_keeps_its_alpha(tmp_path: Path) -> None:
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    for fmt in ("png", "webp"):
        written = save_image(
            image,
            source=tmp_path / "in.png",
            format=fmt,
            target=OutputTarget(output_dir=tmp_path, stem="a"),
        )
        with Image.open(written) as saved:
            assert saved.mode == "RGBA"


def test_an_icc_profile_is_kept_only_where_it_fits_the_mode(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    target = OutputTarget(output_dir=tmp_path, stem="a")
    for fmt in ("jpeg", "png", "webp"):
        written = save_image(
            Image.new("RGB", (4, 4)),
            source=tmp_path / "in.png",
            target=target,
            format=fmt,
            icc_profile=icc,
        )
        with Image.open(written) as saved:
            assert saved.info.get("icc_profile") == icc
    grey = save_image(
        Image.new("L", (4, 4)), source=tmp_path / "in.png", target=target, icc_profile=icc
    )
    with Image.open(grey) as saved:
        assert "icc_profile" not in saved.info


def test_an_image_too_large_for_webp_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(errors.UnsupportedImageError, match="too large for WEBP"):
        save_image(
            Image.new("L", (16_384, 1)),
            source=tmp_path / "in.png",
            format="webp",
            target=OutputTarget(output_dir=tmp_path, stem="a"),
        )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, errors.NoSpaceError),
        (errno.EDQUOT, errors.NoSpaceError),
        (errno.EACCES, errors.OutputPermissionError),
        (errno.EPERM, errors.OutputPermissionError),
        (errno.EROFS, errors.OutputPermissionError),
        (errno.ENOENT, errors.OutputMissingError),
        (errno.ENAMETOOLONG, errors.OutputConflictError),
        (errno.ENOTDIR, errors.OutputConflictError),
        (errno.EIO, errors.OutputError),
    ],
    ids=errno.errorcode.get,
)
def test_write_errors_are_translated_by_errno(
    code: int, expected: type[errors.OutputError]
) -> None:
    error = translate_write_error(OSError(code, os.strerror(code)), Path("/out/a.jpg"))
    assert type(error) is expected
    assert "/out/a.jpg" in str(error)


def test_a_read_only_output_dir_is_a_permission_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only(path: object, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_CREAT:
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(errors.OutputPermissionError):
        save_image(
            Image.new("RGB", (4, 4)),
            source=tmp_path / "in.png",
            target=OutputTarget(output_dir=tmp_path, stem="a"),
        )
    assert temp_files(tmp_path) == []
