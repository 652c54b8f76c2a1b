"""The decoding boundary: photo bytes -> oriented 8-bit RGB array + capture metadata.

Every photo enters the library through :func:`load_photo` (bytes) or
:func:`read_photo` (a path). Both return a :class:`Photo`: an ``(H, W, 3)``
``uint8`` RGB array with the EXIF orientation applied, the capture metadata and
the sha256 of the original bytes. Anything that cannot be decoded raises
:class:`PhotoError`, whose message names the file and says what to do; no
decoder's own exception type leaks out.

Formats: JPEG, PNG, TIFF, WebP and HEIC/HEIF. Grey images are expanded to RGB,
alpha is composited over white, CMYK and palette images are converted, and
16-bit samples are scaled to 8 bits with rounding (``round(v / 257)``).

Pillow parses every header (size, mode, EXIF) before any pixel is decoded.
JPEG pixels are decoded by OpenCV (as fast as ``cv2.imdecode``), 16-bit colour
PNGs by OpenCV and 16-bit TIFFs by tifffile, because Pillow keeps only the high
byte of 16-bit colour samples; everything else by Pillow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

import cv2
import numpy as np
import pillow_heif
import tifffile
from PIL import ExifTags, Image, UnidentifiedImageError

__all__ = ["MAX_PIXELS", "CaptureMetadata", "Photo", "PhotoError", "load_photo", "read_photo"]

pillow_heif.register_heif_opener()
_T = TypeVar("_T")

MAX_PIXELS: int = 100_000_000
"""Default upper bound on width x height, checked before any pixel is decoded."""

_PILLOW_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "HEIF")
_FORMAT_NAMES = {"MPO": "JPEG"}  # multi-picture JPEGs (many cameras and phones)
_DISPLAY_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "TIFF": "TIFF", "WEBP": "WebP", "HEIF": "HEIC"}
_SUPPORTED = "JPEG, PNG, TIFF, WebP or HEIC"
#: File name extensions of the formats :func:`load_photo` reads (for upload pickers).
PHOTO_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tiff", "webp", "heic", "heif")
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
)
# Bytes that occur in text files (the heuristic of file(1)); any other byte means binary.
_TEXT_BYTES = bytes(sorted({7, 8, 9, 10, 12, 13, 27} | set(range(0x20, 0x100)) - {0x7F}))
# Everything the decoders raise for bad input; PhotoError is handled before these.
_DECODE_ERRORS = (
    OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, RuntimeError,
    struct.error, zlib.error, cv2.error, Image.DecompressionBombError,
)
# Pillow modes whose pixels numpy can take as they are (grey, RGB, alpha, 16-bit, int, float).
_ARRAY_MODES = {"RGB", "RGBA", "L", "LA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
# Pillow modes Pillow converts to RGB(A) correctly (not LAB or HSV).
_CONVERTIBLE_MODES = {"1", "P", "PA", "CMYK", "YCbCr", "RGBX", "RGBa", "La"}
# EXIF orientation -> the operation that turns the stored pixels upright
# (the same table as PIL.ImageOps.exif_transpose, done with OpenCV: fast, contiguous).
_UPRIGHT = {
    2: lambda a: cv2.flip(a, 1),  # mirrored left-right
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),  # mirrored top-bottom
    5: cv2.transpose,  # mirrored over the main diagonal
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),  # mirrored over the anti-diagonal
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


class PhotoError(ValueError):
    """A photo that cannot be decoded; the message names the file and says what to do."""


@dataclasses.dataclass(frozen=True)
class CaptureMetadata:
    """What the file says about the picture and how it was taken.

    Attributes
    ----------
    width, height : int
        Pixel size after the EXIF orientation is applied.
    format : str
        ``'JPEG'``, ``'PNG'``, ``'TIFF'``, ``'WEBP'`` or ``'HEIF'``.
    orientation : int
        EXIF orientation tag (1-8) as found in the file; 1 if absent or invalid.
    bit_depth : int
        Bits per sample of the original: 8 for most photos, 16 for 16-bit PNG
        and TIFF; other values where the file stores them (e.g. 10 for a
        10-bit HEIC, 1 for a bilevel PNG).
    mode : str
        The original Pillow mode, e.g. ``'RGB'``, ``'RGBA'``, ``'I;16'``, ``'CMYK'``.
    has_alpha : bool
        Whether the file has transparency (composited over white in the pixels).
    camera_make, camera_model : str or None
        EXIF Make and Model.
    captured_at : datetime or None
        EXIF DateTimeOriginal, else DateTime; naive (EXIF has no time zone).
    """

    width: int
    height: int
    format: str
    orientation: int
    bit_depth: int
    mode: str
    has_alpha: bool
    camera_make: str | None
    camera_model: str | None
    captured_at: datetime | None

    def to_dict(self) -> dict:
        """Return the fields as a JSON-able dict (``captured_at`` as ISO 8601 text).

        Examples
        --------
        >>> meta = CaptureMetadata(4, 3, "PNG", 1, 8, "RGB", False, None, None,
        ...                        datetime(2024, 5, 1, 9, 30))
        >>> meta.to_dict()["captured_at"]
        '2024-05-01T09:30:00'
        """
        fields = dataclasses.asdict(self)
        if self.captured_at is not None:
            fields["captured_at"] = self.captured_at.isoformat()
        return fields


@dataclasses.dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo.

    Attributes
    ----------
    pixels : ndarray, shape (H, W, 3), dtype uint8
        RGB, EXIF orientation applied, C-contiguous and read-only (copy it
        before changing pixels in place).
    metadata : CaptureMetadata
    sha256 : str
        Hex sha256 of the original bytes, which identifies the stored original.
    """

    pixels: np.ndarray
    metadata: CaptureMetadata
    sha256: str


def load_photo(
    data: bytes | bytearray | memoryview,
    *,
    name: str = "upload",
    max_pixels: int = MAX_PIXELS,
) -> Photo:
    """Decode a photo's bytes into an upright 8-bit RGB array and its metadata.

    Parameters
    ----------
    data : bytes
        The file's content; never modified.
    name : str, optional
        The file name used in error messages.
    max_pixels : int, optional
        Largest accepted width x height, checked from the header before any
        pixel is decoded.

    Returns
    -------
    Photo

    Raises
    ------
    PhotoError
        If the bytes are empty, not an image, in an unsupported format, cut
        off, damaged, or larger than `max_pixels`.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (4, 3), 200).save(buffer, "PNG")
    >>> photo = load_photo(buffer.getvalue(), name="grey.png")
    >>> photo.pixels.shape, photo.pixels.dtype, photo.metadata.mode
    ((3, 4, 3), dtype('uint8'), 'L')
    >>> int(photo.pixels[0, 0, 1])
    200
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"load_photo expects the file's bytes, got {type(data).__name__}; "
            "use read_photo(path) to decode a file."
        )
    data = bytes(data)  # no copy for bytes; a private snapshot of a mutable buffer
    if not data:
        raise PhotoError(f"{name}: the file is empty (0 bytes). Upload the original photo again.")
    sha256 = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        # The explicit max_pixels check replaces Pillow's warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = _open(data, name, max_pixels)
        if image is None:  # a TIFF that only tifffile reads
            decoded = _decode_with_tifffile(data, name, max_pixels)
        else:
            with image:
                decoded = _decode_with_pillow(image, data, name, max_pixels)
    samples, exif, found = decoded.samples, decoded.exif, decoded.orientation
    pixels = _to_rgb8(samples, decoded.bit_depth)
    if found != 1 and not decoded.turned:
        pixels = _UPRIGHT[found](pixels)
    pixels = np.ascontiguousarray(pixels)
    pixels.flags.writeable = False
    metadata = CaptureMetadata(
        width=pixels.shape[1],
        height=pixels.shape[0],
        format=decoded.format,
        orientation=found,
        bit_depth=decoded.bit_depth,
        mode=decoded.mode,
        has_alpha=samples.ndim == 3 and samples.shape[2] in (2, 4),
        camera_make=_text(exif.get(ExifTags.Base.Make)),
        camera_model=_text(exif.get(ExifTags.Base.Model)),
        captured_at=_capture_time(exif),
    )
    return Photo(pixels=pixels, metadata=metadata, sha256=sha256)


def read_photo(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Read a photo file and decode it with :func:`load_photo`.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    max_pixels : int, optional
        Largest accepted width x height (see :func:`load_photo`).

    Returns
    -------
    Photo

    Raises
    ------
    PhotoError
        If the file is missing, is a folder, cannot be read or cannot be decoded.

    Examples
    --------
    >>> read_photo("no-such-photo.jpg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tracker.photo.PhotoError: no-such-photo.jpg: there is no such file (...). Check the path ...
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise PhotoError(
            f"{name}: there is no such file ({path}). Check the path and try again."
        ) from err
    except IsADirectoryError as err:
        raise PhotoError(
            f"{name}: this is a folder, not a photo. Give the path of an image file in it."
        ) from err
    except OSError as err:
        raise PhotoError(
            f"{name}: the file cannot be read ({err.strerror or err}). "
            "Check that it exists and that you may read it, then try again."
        ) from err
    return load_photo(data, name=name, max_pixels=max_pixels)


class _Decoded(NamedTuple):
    samples: np.ndarray  # (H, W) or (H, W, C): grey or RGB, alpha last if any
    bit_depth: int
    format: str
    mode: str
    exif: Image.Exif
    orientation: int  # EXIF orientation as found in the file
    turned: bool  # whether the decoder has already turned the pixels upright


def _decode_with_pillow(image: Image.Image, data: bytes, name: str, max_pixels: int) -> _Decoded:
    fmt = _FORMAT_NAMES.get(image.format, image.format)
    _check_size(name, *image.size, max_pixels)
    # Read first: Pillow 12+ turns a TIFF upright while decoding and drops the tag.
    # (Not for other formats: a PNG's getexif decodes the whole image.)
    if fmt == "TIFF":
        stored = _read_metadata(image.getexif, {}).get(ExifTags.Base.Orientation)
    with _decoding(name, fmt, max_pixels):
        samples, bit_depth = _image_samples(image, fmt, data, name, max_pixels)
    exif = _read_metadata(image.getexif, Image.Exif())
    if fmt == "HEIF":  # libheif applies HEIF's transforms; pillow_heif keeps the tag found
        found, turned = _orientation(image.info.get("original_orientation")), True
    elif fmt == "TIFF":
        found, turned = _orientation(stored), ExifTags.Base.Orientation not in exif
    else:
        found, turned = _orientation(exif.get(ExifTags.Base.Orientation)), False
    return _Decoded(samples, bit_depth, fmt, image.mode, exif, found, turned)


def _decode_with_tifffile(data: bytes, name: str, max_pixels: int) -> _Decoded:
    with _decoding(name, "TIFF", max_pixels):
        samples, bit_depth = _tiff_samples(data, name, max_pixels)
    exif = _read_metadata(lambda: _tiff_exif(data), Image.Exif())
    found = _orientation(exif.get(ExifTags.Base.Orientation))
    return _Decoded(samples, bit_depth, "TIFF", _mode_name(samples, bit_depth), exif, found, False)


def _open(data: bytes, name: str, max_pixels: int) -> Image.Image | None:
    """Parse the header with Pillow; None for a TIFF Pillow cannot parse."""
    try:
        return Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    except UnidentifiedImageError as err:
        fmt = _signature_format(data)
        if fmt == "TIFF":
            return None
        if _looks_like_text(data[:1024]):
            message = (
                f"{name}: the file contains text, not image data (a web page or note saved "
                f"under a photo's name?). Upload the photo itself, as {_SUPPORTED}."
            )
        elif fmt is not None:
            message = (
                f"{name}: the file starts like a {_DISPLAY_NAMES[fmt]} image but its header is "
                "damaged or cut off. Upload the original file again."
            )
        else:
            message = (
                f"{name}: this is not a supported image format ({_SUPPORTED}). "
                "Export the photo as JPEG or PNG and upload that."
            )
        raise PhotoError(message) from err
    except _DECODE_ERRORS as err:  # e.g. WebP and HEIC decode while parsing
        raise _decode_error(name, _signature_format(data), err, max_pixels) from err


@contextlib.contextmanager
def _decoding(name: str, fmt: str, max_pixels: int) -> Iterator[None]:
    """Turn a decoder's exception into a PhotoError naming the file."""
    try:
        yield
    except PhotoError:
        raise
    except _DECODE_ERRORS as err:
        raise _decode_error(name, fmt, err, max_pixels) from err


def _decode_error(name: str, fmt: str | None, err: Exception, max_pixels: int) -> PhotoError:
    if isinstance(err, Image.DecompressionBombError):  # above twice Pillow's own limit
        match = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(match[1]) / 1e6:.3g} megapixels" if match else "too large to decode safely"
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
        return PhotoError(_too_large(name, size, limit))
    text = str(err).lower()
    if isinstance(err, EOFError) or "truncated" in text or "end of file" in text:
        return PhotoError(
            f"{name}: the file ends before the image data does (truncated upload?). "
            "Upload the original file again."
        )
    kind = f"{_DISPLAY_NAMES[fmt]} image" if fmt else "file"
    return PhotoError(
        f"{name}: the {kind} is damaged and cannot be decoded. Upload the original file "
        "again, or export the photo again from the camera or phone."
    )


def _too_large(name: str, size: str, limit: int) -> str:
    megapixels = f"{limit / 1e6:g}"
    return (
        f"{name}: the image is {size}, above the limit of {megapixels} megapixels. "
        f"Resize it to at most {megapixels} megapixels or export a smaller copy, then upload that."
    )


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        size = f"{width} x {height} pixels ({width * height / 1e6:.3g} megapixels)"
        raise PhotoError(_too_large(name, size, max_pixels))


def _signature_format(data: bytes) -> str | None:
    """The supported format whose signature starts `data`, if any."""
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return "HEIF" if pillow_heif.is_supported(data) else None


def _looks_like_text(sample: bytes) -> bool:
    return bool(sample) and not sample.translate(None, _TEXT_BYTES)


def _unsupported_mode(name: str, mode: str) -> PhotoError:
    return PhotoError(
        f"{name}: its colour mode ({mode}) is not supported. "
        "Export the photo as an RGB JPEG, PNG or TIFF and upload that."
    )


def _orientation(value: object) -> int:
    """A valid EXIF orientation (1-8), or 1."""
    return value if value in _UPRIGHT else 1


def _image_samples(
    image: Image.Image, fmt: str, data: bytes, name: str, max_pixels: int
) -> tuple[np.ndarray, int]:
    """Decode a Pillow-parsed image into samples (H, W[, C]) and bits per sample."""
    if fmt == "JPEG":
        bit_depth = 8
        # OpenCV (>= 4.11 for IMREAD_COLOR_RGB) decodes straight into a numpy array, without
        # Pillow's RGBX-to-RGB repacking copy, and refuses truncated data; Pillow then
        # decodes and says what is wrong.
        samples = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
        )
        if samples is not None:
            return samples, bit_depth
    elif fmt == "PNG":
        bit_depth = data[24]  # in IHDR, which the PNG standard puts first
        if bit_depth == 16 and not image.mode.startswith("I"):
            return _png16_samples(data), bit_depth  # Pillow keeps only the high byte
    elif fmt == "TIFF":
        bits = image.tag_v2.get(258, 8)  # BitsPerSample, one value per sample
        bit_depth = max(bits) if isinstance(bits, tuple) else int(bits)
        if bit_depth > 8:
            try:
                return _tiff_samples(data, name, max_pixels)
            except PhotoError:
                raise
            except _DECODE_ERRORS:
                pass  # e.g. LZW without imagecodecs: Pillow's high byte is the best left
    else:
        bit_depth = int(image.info.get("bit_depth", 8))  # HEIF says; WebP is 8-bit
    if image.mode not in _ARRAY_MODES | _CONVERTIBLE_MODES:
        raise _unsupported_mode(name, image.mode)
    image.load()
    trns = image.mode in ("RGB", "L") and "transparency" in image.info
    if image.mode in _CONVERTIBLE_MODES or trns:
        # CMYK (incl. Adobe's inverted), YCbCr, palette, bilevel, tRNS or premultiplied alpha
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return np.asarray(image), bit_depth


def _png16_samples(data: bytes) -> np.ndarray:
    """Decode a 16-bit colour or grey+alpha PNG with OpenCV, in RGB(A) order."""
    samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if samples is None:
        raise ValueError("OpenCV could not decode the PNG data")
    if samples.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if samples.shape[2] == 4 else cv2.COLOR_BGR2RGB
        samples = cv2.cvtColor(samples, code)
    return samples


def _tiff_samples(data: bytes, name: str, max_pixels: int) -> tuple[np.ndarray, int]:
    """Decode the first page of a TIFF with tifffile: grey or RGB, optional alpha."""
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        _check_size(name, page.imagewidth, page.imagelength, max_pixels)
        colour = {
            tifffile.PHOTOMETRIC.MINISBLACK: 1,
            tifffile.PHOTOMETRIC.MINISWHITE: 1,
            tifffile.PHOTOMETRIC.RGB: 3,
        }.get(page.photometric)
        if colour is None:
            raise _unsupported_mode(name, f"{page.photometric.name} at {page.bitspersample} bits")
        if page.axes not in ("YX", "YXS", "SYX"):
            raise PhotoError(
                f"{name}: the TIFF holds a stack of images ({page.axes}), not one photo. "
                "Export a single image as TIFF, JPEG or PNG and upload that."
            )
        samples = page.asarray()
        if "S" in page.axes:  # samples per pixel, first when stored plane by plane
            samples = np.moveaxis(samples, page.axes.index("S"), -1)
            alpha = page.extrasamples[:1] in ((1,), (2,))  # associated or unassociated alpha
            samples = samples[..., : colour + alpha]
        if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
            samples = _max_value(samples, page.bitspersample) - samples
        return samples, page.bitspersample


def _tiff_exif(data: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(data)  # a TIFF file is laid out like an EXIF block
    return exif


def _read_metadata(read: Callable[[], _T], default: _T) -> _T:
    """Read EXIF; a damaged EXIF block costs the metadata, never the photo."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data"
            return read()
    except _DECODE_ERRORS:
        return default


def _mode_name(samples: np.ndarray, bit_depth: int) -> str:
    channels = samples.shape[2] if samples.ndim == 3 else 1
    if channels == 1 and bit_depth > 8:
        return "I;16"
    return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]


def _max_value(samples: np.ndarray, bit_depth: int) -> float:
    """The sample value that means full intensity."""
    if samples.dtype == np.uint8:
        return 255
    if samples.dtype.kind == "f":
        return 1.0
    return min((1 << bit_depth) - 1, np.iinfo(samples.dtype).max)


def _to_rgb8(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """Grey/RGB samples with optional alpha (last channel) -> (H, W, 3) uint8 over white."""
    if samples.ndim == 2:
        samples = samples[..., np.newaxis]
    maxval = _max_value(samples, bit_depth)
    if samples.shape[2] in (2, 4):
        alpha = samples[..., -1:].astype(np.float32) / maxval
        colour = samples[..., :-1].astype(np.float32) * (alpha * (255 / maxval))
        colour += 255 * (1 - alpha)
        rgb8 = np.rint(np.clip(colour, 0, 255, out=colour)).astype(np.uint8)
    elif samples.dtype != np.uint8:
        colour = samples.astype(np.float32) * np.float32(255 / maxval)
        rgb8 = np.rint(np.clip(colour, 0, 255, out=colour)).astype(np.uint8)
    else:
        rgb8 = samples
    if rgb8.shape[2] == 1:
        rgb8 = cv2.cvtColor(np.ascontiguousarray(rgb8), cv2.COLOR_GRAY2RGB)
    return rgb8


def _text(value: object) -> str | None:
    text = value.strip("\x00 \t\r\n") if isinstance(value, str) else ""
    return text or None


def _capture_time(exif: Image.Exif) -> datetime | None:
    exif_ifd = _read_metadata(lambda: exif.get_ifd(ExifTags.IFD.Exif), {})
    for value in (exif_ifd.get(ExifTags.Base.DateTimeOriginal), exif.get(ExifTags.Base.DateTime)):
        text = _text(value)
        if text:
            try:
                return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
            except ValueError:
                continue  # blank or malformed ("0000:00:00 00:00:00")
    return None
