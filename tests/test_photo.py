"""Tests for tracker.photo: every file is generated here, in memory or in tmp_path."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import time
import tracemalloc
import zlib
from datetime import datetime

import numpy as np
import pillow_heif
import pytest
import tifffile
from PIL import ExifTags, Image, ImageOps

from tracker.photo import (
    MAX_PIXELS,
    CaptureMetadata,
    Photo,
    PhotoError,
    load_photo,
    read_photo,
)

pillow_heif.register_heif_opener()

FORMATS = ["JPEG", "PNG", "TIFF", "WEBP", "HEIF"]
LOSSY = {"JPEG": 4.0, "HEIF": 4.0}  # mean absolute error allowed on smooth content


# ---------------------------------------------------------------- helpers


def upright(height: int = 24, width: int = 40) -> np.ndarray:
    """A smooth image that no flip or rotation maps onto itself (and not square)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [40 + x * 160 // (width - 1), 30 + y * 180 // (height - 1), 90 + (x + 2 * y) * 2],
        axis=-1,
    ).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    if fmt == "WEBP":
        options.setdefault("lossless", True)
    if fmt == "HEIF":
        options.setdefault("quality", 95)
    if fmt == "JPEG":
        options.setdefault("quality", 95)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def exif(orientation: int | None = None, **tags) -> Image.Exif:
    block = Image.Exif()
    if orientation is not None:
        block[ExifTags.Base.Orientation] = orientation
    for key, value in tags.items():
        if key == "DateTimeOriginal":
            block.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = value
        else:
            block[ExifTags.Base[key]] = value
    return block


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png16(samples: np.ndarray, colour_type: int, *, exif_block: bytes | None = None) -> bytes:
    """A 16-bit PNG written chunk by chunk (colour type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA)."""
    height, width = samples.shape[:2]
    rows = samples.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    extra = png_chunk(b"eXIf", exif_block) if exif_block else b""
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
        + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    )


def tiff(samples: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, samples, **options)
    return buffer.getvalue()


def rounded(samples: np.ndarray, maxval: int = 65535) -> np.ndarray:
    """The expected 8-bit value: round(v * 255 / maxval), exact in integers (no ties)."""
    return ((samples.astype(np.int64) * 255 * 2 + maxval) // (2 * maxval)).astype(np.uint8)


# 16-bit values around rounding boundaries: truncation to the high byte gets some wrong.
LEVELS16 = np.array(
    [0, 128, 129, 255, 385, 386, 25828, 25829, 32767, 32768, 65407, 65408, 65534, 65535],
    dtype=np.uint16,
)


def levels16(channels: int) -> np.ndarray:
    """(2, 7, channels) uint16 covering LEVELS16, each channel shifted so they differ."""
    grid = LEVELS16.reshape(2, 7)
    return np.stack([np.roll(grid, c, axis=1) for c in range(channels)], axis=-1)


def assert_upright(pixels: np.ndarray, expected: np.ndarray, fmt: str) -> None:
    assert pixels.shape == expected.shape
    error = np.abs(pixels.astype(int) - expected.astype(int)).mean()
    assert error <= LOSSY.get(fmt, 0.0), f"mean abs error {error:.2f}"


def rejects(data: bytes, name: str, *fragments: str, **options) -> PhotoError:
    """load_photo must raise a PhotoError that names the file and contains `fragments`."""
    with pytest.raises(PhotoError) as caught:
        load_photo(data, name=name, **options)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    for fragment in fragments:
        assert fragment in message
    return caught.value


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_each_format(fmt):
    expected = upright()
    data = encode(Image.fromarray(expected), fmt)
    result = load_photo(data, name=f"scalp.{fmt.lower()}")
    assert isinstance(result, Photo)
    assert result.pixels.dtype == np.uint8
    assert result.pixels.flags.c_contiguous
    assert not result.pixels.flags.writeable
    assert_upright(result.pixels, expected, fmt)
    meta = result.metadata
    assert (meta.width, meta.height, meta.format) == (40, 24, fmt)
    assert (meta.orientation, meta.bit_depth, meta.mode, meta.has_alpha) == (1, 8, "RGB", False)


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"subsampling": 0}])
def test_jpeg_pixels_match_pillow(mode, options):
    image = Image.fromarray(upright()).convert(mode)
    data = encode(image, "JPEG", **options)
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert (load_photo(data).pixels == reference).all()


def test_high_bit_depth_heic():
    wide = upright().astype(np.uint16) * 257
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(40, 24), data=wide.tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=95)
    result = load_photo(buffer.getvalue())
    assert (result.metadata.format, result.metadata.bit_depth) == ("HEIF", 10)
    assert_upright(result.pixels, upright(), "HEIF")


def test_mpo_jpeg_reports_jpeg():
    frames = [Image.fromarray(upright()), Image.fromarray(upright()[::-1].copy())]
    buffer = io.BytesIO()
    frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:], quality=95)
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    result = load_photo(buffer.getvalue())
    assert result.metadata.format == "JPEG"
    assert_upright(result.pixels, upright(), "JPEG")


@pytest.mark.parametrize(
    ("mode", "fill", "expected"),
    [
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("I;16", 129, (1, 1, 1)),  # 129 / 257 rounds up: a scaled value, not clipped
        ("I;16", 25829, (101, 101, 101)),
    ],
)
def test_grey_png_becomes_rgb(mode, fill, expected):
    data = encode(Image.new(mode, (5, 3), fill), "PNG")
    result = load_photo(data)
    assert result.pixels.shape == (3, 5, 3)
    assert (result.pixels == expected).all()
    assert not result.metadata.has_alpha


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "HEIF"])
def test_alpha_composited_over_white(fmt):
    rgba = np.array(
        [[[255, 0, 0, 0], [255, 0, 0, 255]], [[0, 0, 0, 128], [0, 0, 255, 51]]], np.uint8
    ).repeat(8, axis=0).repeat(8, axis=1)
    result = load_photo(encode(Image.fromarray(rgba, "RGBA"), fmt))
    assert result.metadata.has_alpha and result.metadata.mode == "RGBA"
    centres = result.pixels[4::8, 4::8].astype(int)
    expected = np.array([[[255, 255, 255], [255, 0, 0]], [[127, 127, 127], [204, 204, 255]]])
    assert np.abs(centres - expected).max() <= (0 if fmt in ("PNG", "TIFF", "WEBP") else 12)


def test_rgb_png_with_transparent_colour():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0] = (255, 0, 0)
    result = load_photo(encode(Image.fromarray(rgb), "PNG", transparency=(255, 0, 0)))
    assert result.metadata.has_alpha and result.metadata.mode == "RGB"
    assert (result.pixels[0] == 255).all() and (result.pixels[1] == 0).all()


def test_grey_alpha_png():
    data = encode(Image.new("LA", (4, 2), (0, 128)), "PNG")
    result = load_photo(data)
    assert result.metadata.has_alpha and result.metadata.mode == "LA"
    assert (result.pixels == 127).all()


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_png(transparent):
    palette_image = Image.new("P", (6, 2), 1)
    palette_image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette_image.putpixel((0, 0), 0)
    options = {"transparency": 0} if transparent else {}
    result = load_photo(encode(palette_image, "PNG", **options))
    assert result.metadata.mode == "P"
    assert result.metadata.has_alpha is transparent
    assert tuple(result.pixels[0, 0]) == ((255, 255, 255) if transparent else (10, 20, 30))
    assert (result.pixels[1] == (200, 100, 50)).all()


def test_cmyk_jpeg():
    patches = [(0, 0, 0, 0), (255, 0, 0, 0), (0, 255, 255, 0), (0, 0, 0, 255)]
    cmyk = np.concatenate([np.full((16, 16, 4), p, np.uint8) for p in patches], axis=1)
    data = encode(Image.fromarray(cmyk, "CMYK"), "JPEG")
    result = load_photo(data)
    assert result.metadata.mode == "CMYK"
    centres = result.pixels[8, 8::16].astype(int)
    expected = [(255, 255, 255), (0, 255, 255), (255, 0, 0), (0, 0, 0)]
    assert np.abs(centres - expected).max() <= 8


# ---------------------------------------------------------------- 16 bit


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "zlib"},
        {"byteorder": ">"},
        {"tile": (16, 16)},
    ],
    ids=["plain", "zlib", "big-endian", "tiled"],
)
def test_16bit_grey_tiff_scaled_with_rounding(options):
    samples = LEVELS16.reshape(2, 7)
    result = load_photo(tiff(samples, photometric="minisblack", **options))
    assert (result.metadata.bit_depth, result.metadata.mode[:4]) == (16, "I;16")
    assert (result.pixels == rounded(samples)[..., None]).all()


@pytest.mark.parametrize(
    ("samples", "options", "alpha"),
    [
        (levels16(3), {}, False),
        (levels16(3), {"compression": "zlib", "predictor": True}, False),
        (np.moveaxis(levels16(3), -1, 0), {"planarconfig": "separate"}, False),
        (levels16(3), {"byteorder": ">"}, False),
        (levels16(3), {"bigtiff": True}, False),
    ],
    ids=["contiguous", "zlib-predictor", "planar", "big-endian", "bigtiff"],
)
def test_16bit_rgb_tiff_scaled_with_rounding(samples, options, alpha):
    result = load_photo(tiff(samples, photometric="rgb", **options))
    assert result.metadata.bit_depth == 16
    assert result.metadata.has_alpha is alpha
    assert (result.pixels == rounded(levels16(3))).all()


def test_16bit_tiff_pillow_cannot_open_uses_tifffile():
    """Grey+alpha and RGB+two extra samples at 16 bit: Pillow does not parse these."""
    grey_alpha = np.stack([LEVELS16.reshape(2, 7), np.full((2, 7), 65535, np.uint16)], -1)
    data = tiff(grey_alpha, photometric="minisblack", planarconfig="contig",
                extrasamples=["unassalpha"])
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(data))
    result = load_photo(data)
    assert (result.metadata.mode, result.metadata.has_alpha, result.metadata.bit_depth) == (
        "LA", True, 16
    )
    assert (result.pixels == rounded(LEVELS16.reshape(2, 7))[..., None]).all()

    rgb_extra = np.concatenate([levels16(3), np.full((2, 7, 2), 65535, np.uint16)], axis=-1)
    data = tiff(rgb_extra, photometric="rgb", planarconfig="contig",
                extrasamples=["unassalpha", "unspecified"])
    result = load_photo(data)
    assert result.metadata.has_alpha
    assert (result.pixels == rounded(levels16(3))).all()


@pytest.mark.parametrize(
    ("samples", "bit_depth"),
    [
        (levels16(3).astype(np.float32) / 65535, 32),
        (levels16(3).astype(np.uint32) * 65537, 32),
    ],
    ids=["float32", "uint32"],
)
def test_32bit_rgb_tiff(samples, bit_depth):
    result = load_photo(tiff(samples, photometric="rgb"))
    assert result.metadata.bit_depth == bit_depth
    assert np.abs(result.pixels.astype(int) - rounded(levels16(3))).max() <= 1


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("F", [0.0, 0.25, 0.5, 1.0, 2.0, -1.0], [0, 64, 128, 255, 255, 0]),  # float: 0..1
        ("I", [0, 2**30, 2**31 - 1, -5, 0, 0], [0, 128, 255, 0, 0, 0]),  # int32: full range
    ],
)
def test_pillow_32bit_grey_tiff(mode, values, expected):
    image = Image.new(mode, (6, 1))
    image.putdata(values)
    result = load_photo(encode(image, "TIFF"))
    assert result.metadata.bit_depth == 32
    assert (result.pixels[0, :, 0] == expected).all()


def test_16bit_miniswhite_tiff_inverted():
    samples = LEVELS16.reshape(2, 7)
    result = load_photo(tiff(samples, photometric="miniswhite"))
    assert (result.pixels == rounded(65535 - samples)[..., None]).all()


def test_16bit_lzw_tiff_falls_back_to_pillow():
    """tifffile needs imagecodecs for LZW; Pillow decodes 16-bit grey LZW exactly."""
    samples = LEVELS16.reshape(2, 7)
    data = encode(Image.fromarray(samples), "TIFF", compression="tiff_lzw")
    result = load_photo(data)
    assert result.metadata.bit_depth == 16
    assert (result.pixels == rounded(samples)[..., None]).all()


@pytest.mark.parametrize(
    ("colour_type", "channels", "mode"),
    [(0, 1, "I;16"), (2, 3, "RGB"), (4, 2, "RGBA"), (6, 4, "RGBA")],  # Pillow calls LA16 RGBA
)
def test_16bit_png_scaled_with_rounding(colour_type, channels, mode):
    samples = levels16(channels)
    if channels in (2, 4):
        samples[..., -1] = 65535  # opaque, so the colour values are checked exactly
    result = load_photo(png16(samples, colour_type))
    assert (result.metadata.bit_depth, result.metadata.mode) == (16, mode)
    assert result.metadata.has_alpha is (channels in (2, 4))
    colour = samples[..., : 3 if channels >= 3 else 1]
    assert (result.pixels == rounded(colour)).all()


def test_16bit_png_partial_alpha():
    samples = np.array([[[65535, 0, 0, 32768], [0, 0, 0, 0]]], np.uint16)
    result = load_photo(png16(samples, 6))
    assert tuple(result.pixels[0, 0]) == (255, 127, 127)
    assert tuple(result.pixels[0, 1]) == (255, 255, 255)


# ---------------------------------------------------------------- orientation


STORE = {  # the inverse of each EXIF orientation's correction
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def stored(orientation: int) -> Image.Image:
    """The upright image as a camera would store it under `orientation`."""
    image = Image.fromarray(upright())
    method = STORE[orientation]
    return image if method is None else image.transpose(method)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_every_exif_orientation_comes_out_upright(fmt, orientation):
    data = encode(stored(orientation), fmt, exif=exif(orientation))
    # The test data itself agrees with Pillow's reference implementation.
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert_upright(np.asarray(reference.convert("RGB")), upright(), fmt)
    result = load_photo(data)
    assert result.metadata.orientation == orientation
    assert (result.metadata.width, result.metadata.height) == (40, 24)
    assert_upright(result.pixels, upright(), fmt)
    assert result.pixels.flags.c_contiguous


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_heic_orientation(orientation):
    # Given EXIF bytes, pillow_heif stores the orientation as HEIF transforms (irot/imir),
    # which libheif applies on reading, as phones' HEIC files do.
    data = encode(stored(orientation), "HEIF", exif=exif(orientation).tobytes())
    result = load_photo(data)
    assert result.metadata.orientation == orientation
    assert_upright(result.pixels, upright(), "HEIF")


@pytest.mark.parametrize("orientation", [5, 6])
def test_orientation_of_16bit_files(orientation):
    """OpenCV (16-bit PNG) and tifffile (16-bit TIFF) must not rotate on their own."""
    samples = stored(orientation)
    wide = np.asarray(samples).astype(np.uint16) * 257
    png = png16(wide, 2, exif_block=exif(orientation).tobytes())
    tif = tiff(wide, photometric="rgb", extratags=[(274, "H", 1, orientation, False)])
    for data in (png, tif):
        result = load_photo(data)
        assert result.metadata.orientation == orientation
        assert (result.pixels == upright()).all()


@pytest.mark.parametrize("value", [0, 9, 300])
def test_invalid_orientation_ignored(value):
    data = encode(Image.fromarray(upright()), "PNG", exif=exif(value))
    result = load_photo(data)
    assert result.metadata.orientation == 1
    assert (result.pixels == upright()).all()


# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize("fmt", FORMATS)
def test_camera_metadata(fmt):
    tags = exif(Make="Canon\x00", Model=" EOS R5 ", DateTime="2024:03:05 10:00:00")
    if fmt != "TIFF":  # Pillow's TIFF writer leaves out the Exif sub-IFD
        tags.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:03:05 14:15:16"
    meta = load_photo(encode(Image.fromarray(upright()), fmt, exif=tags)).metadata
    assert (meta.camera_make, meta.camera_model) == ("Canon", "EOS R5")
    expected = datetime(2024, 3, 5, 10, 0) if fmt == "TIFF" else datetime(2024, 3, 5, 14, 15, 16)
    assert meta.captured_at == expected
    as_dict = json.loads(json.dumps(meta.to_dict()))
    assert as_dict["captured_at"] == expected.isoformat()
    assert as_dict["camera_model"] == "EOS R5" and as_dict["format"] == fmt


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, None),
        ({"DateTime": "2023:12:31 23:59:58"}, datetime(2023, 12, 31, 23, 59, 58)),
        ({"DateTimeOriginal": "0000:00:00 00:00:00", "DateTime": "2023:01:02 03:04:05"},
         datetime(2023, 1, 2, 3, 4, 5)),
        ({"DateTimeOriginal": "    :  :     :  :  "}, None),
        ({"DateTimeOriginal": "garbage"}, None),
    ],
)
def test_capture_time_fallbacks(tags, expected):
    data = encode(Image.fromarray(upright()), "JPEG", exif=exif(**tags))
    meta = load_photo(data).metadata
    assert meta.captured_at == expected
    assert meta.camera_make is None and meta.camera_model is None


def test_damaged_exif_keeps_the_photo():
    data = encode(Image.fromarray(upright()), "PNG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f")
    result = load_photo(data)
    assert result.metadata.orientation == 1 and result.metadata.captured_at is None
    assert (result.pixels == upright()).all()


def test_metadata_to_dict_is_json():
    meta = CaptureMetadata(4, 3, "PNG", 6, 16, "I;16", True, "Make", None, None)
    assert json.loads(json.dumps(meta.to_dict())) == {
        "width": 4, "height": 3, "format": "PNG", "orientation": 6, "bit_depth": 16,
        "mode": "I;16", "has_alpha": True, "camera_make": "Make", "camera_model": None,
        "captured_at": None,
    }


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("container", [bytes, bytearray, memoryview])
def test_sha256_of_original_bytes_and_input_untouched(fmt, container):
    original = encode(Image.fromarray(upright()), fmt, exif=exif(6))
    data = container(bytearray(original))
    result = load_photo(data)
    assert result.sha256 == hashlib.sha256(original).hexdigest()
    assert bytes(data) == original


def test_load_photo_wants_bytes():
    with pytest.raises(TypeError, match="read_photo"):
        load_photo("photo.jpg")


# ---------------------------------------------------------------- errors


def jpeg_bytes() -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (64, 96, 3), np.uint8)
    return encode(Image.fromarray(noise), "JPEG")


def truncated(fmt: str) -> bytes:
    data = jpeg_bytes() if fmt == "JPEG" else encode(Image.fromarray(upright(64, 96)), fmt)
    return data[: len(data) // 2]


def corrupted_png() -> bytes:
    data = bytearray(encode(Image.fromarray(upright()), "PNG"))
    start = data.index(b"IDAT") + 8
    data[start : start + 20] = bytes(20)  # breaks the zlib stream and the CRC
    return bytes(data)


def damaged_jpeg_header() -> bytes:
    data = jpeg_bytes()
    return data[:3] + bytes(range(200, 256)) * 4 + data[300:]


def gif_bytes() -> bytes:
    return encode(Image.new("P", (8, 8)), "GIF")


ERROR_CASES = [
    # (bytes, file name, what went wrong, what to do)
    (b"", "empty.jpg", "empty (0 bytes)", "Upload the original photo again"),
    (b"Dear doctor,\nplease find attached...\n" * 20, "note.jpg", "contains text",
     "Upload the photo itself"),
    (b"<!DOCTYPE html><html><body>Error 404</body></html>", "page.jpg", "contains text",
     "Upload the photo itself"),
    (truncated("JPEG"), "holiday.jpg", "ends before the image data does",
     "Upload the original file again"),
    (truncated("PNG"), "crown.png", "ends before the image data does",
     "Upload the original file again"),
    (truncated("HEIF"), "vertex.heic", "ends before the image data does",
     "Upload the original file again"),
    (truncated("WEBP"), "temple.webp", "damaged", "Upload the original file again"),
    (truncated("TIFF"), "scan.tif", "ends before the image data does",
     "Upload the original file again"),
    (tiff(levels16(3), photometric="rgb")[:-30], "scan16.tif",
     "ends before the image data does", "Upload the original file again"),
    (corrupted_png(), "broken.png", "PNG image is damaged", "export the photo again"),
    (damaged_jpeg_header(), "header.jpg", "starts like a JPEG", "Upload the original file"),
    (bytes(range(256)) * 8, "data.bin", "not a supported image format", "Export the photo as JPEG"),
    (gif_bytes(), "anim.gif", "not a supported image format", "Export the photo as JPEG"),
]


@pytest.mark.parametrize(("data", "name", "problem", "hint"), ERROR_CASES,
                         ids=[case[1] for case in ERROR_CASES])
def test_bad_files_get_actionable_errors(data, name, problem, hint):
    error = rejects(data, name, problem, hint)
    assert type(error) is PhotoError and isinstance(error, ValueError)
    # A decoder's own error is chained for debugging, never raised or quoted instead.
    assert data == b"" or error.__cause__ is not None
    assert "BytesIO" not in str(error) and "cannot identify" not in str(error)


def test_truncated_jpeg_honours_pillow_default():
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    rejects(truncated("JPEG"), "holiday.jpg", "truncated upload?")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def bomb_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b"")
    )


def tiff_header(width: int, height: int) -> bytes:
    """A little-endian 16-bit grey TIFF that claims `width` x `height` but holds 2 bytes."""
    tags = [  # (tag, type, count, value): 3 = SHORT, 4 = LONG
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 16), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1),
        (278, 4, 1, height), (279, 4, 1, 2 * width * height),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + struct.pack("<I" if kind == 4 else "<HH", value,
                                                            *([] if kind == 4 else [0]))
        for tag, kind, count, value in tags
    )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00\x00"


def test_header_bomb_fails_fast_without_allocating():
    data = bomb_png(30000, 30000)
    assert len(data) < 100
    tracemalloc.start()
    start = time.perf_counter()
    error = rejects(data, "huge.png", "900 megapixels", "100 megapixels",
                    "Resize it to at most 100 megapixels or export a smaller copy")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5_000_000
    assert isinstance(error.__cause__, Image.DecompressionBombError)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (bomb_png(12000, 9000), "12000 x 9000 pixels"),  # 108 MP: our limit, not Pillow's
        (tiff_header(21000, 5000), "21000 x 5000 pixels"),
    ],
    ids=["png", "16bit-tiff"],
)
def test_size_limit_checked_from_header(data, size):
    start = time.perf_counter()
    rejects(data, "big", size, f"limit of {MAX_PIXELS / 1e6:g} megapixels",
            "Resize it to at most 100 megapixels")
    assert time.perf_counter() - start < 1.0


def test_max_pixels_option():
    data = encode(Image.fromarray(upright()), "JPEG")  # 40 x 24 = 960 pixels
    assert load_photo(data, max_pixels=960).pixels.shape == (24, 40, 3)
    rejects(data, "small.jpg", "40 x 24 pixels", "at most 0.0009 megapixels", max_pixels=900)


def test_unsupported_colour_mode():
    lab = Image.new("LAB", (4, 4), (50, 0, 0))
    rejects(encode(lab, "TIFF"), "lab.tif", "colour mode (LAB)", "Export the photo as")
    cmyk16 = tiff(np.zeros((4, 4, 4), np.uint16), photometric="separated")
    rejects(cmyk16, "cmyk.tif", "colour mode (SEPARATED at 16 bits)", "Export the photo as")


def test_volume_tiff_rejected():
    volume = tiff(np.zeros((4, 16, 16), np.uint16), volumetric=True, tile=(16, 16),
                  photometric="minisblack")
    rejects(volume, "stack.tif", "stack of images (ZYX)", "Export a single image")


# ---------------------------------------------------------------- read_photo


def test_read_photo(tmp_path):
    path = tmp_path / "visit1.webp"
    path.write_bytes(encode(Image.fromarray(upright()), "WEBP"))
    result = read_photo(path)
    assert (result.pixels == upright()).all()
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_photo(str(path), max_pixels=960).metadata.format == "WEBP"
    with pytest.raises(PhotoError, match=r"^visit1\.webp: .*40 x 24 pixels.*0\.0009 megapixels"):
        read_photo(path, max_pixels=900)


def test_read_photo_errors_name_the_file(tmp_path):
    path = tmp_path / "crown.jpg"
    path.write_bytes(truncated("JPEG"))
    with pytest.raises(PhotoError, match=r"^crown\.jpg: the file ends before"):
        read_photo(path)
    with pytest.raises(PhotoError, match=r"^missing\.jpg: there is no such file.*Check the path"):
        read_photo(tmp_path / "missing.jpg")
    with pytest.raises(PhotoError, match=r"^photos: this is a folder.*image file in it"):
        (tmp_path / "photos").mkdir()
        read_photo(tmp_path / "photos")
    empty = tmp_path / "zero.png"
    empty.write_bytes(b"")
    with pytest.raises(PhotoError, match=r"^zero\.png: the file is empty"):
        read_photo(empty)
