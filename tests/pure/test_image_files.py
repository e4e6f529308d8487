"""The EXR and PNG writers, read back with the reference OpenEXR bindings and Pillow."""

import io

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from neural_previs.addon.image_files import encode_exr_float, encode_png_gray16


@pytest.mark.parametrize("compression", ["zip", "none"])
@pytest.mark.parametrize("shape", [(1, 1), (17, 3), (480, 832), (33, 1001)])
def test_exr_round_trips_exactly(tmp_path, shape, compression):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.01, 1e4, shape).astype(np.float32)
    depth[:: max(1, shape[0] // 3)] = np.inf
    path = tmp_path / "d.exr"
    path.write_bytes(encode_exr_float(depth, compression=compression))
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        assert list(channels) == ["Z"]
        pixels = channels["Z"].pixels
        expected = OpenEXR.ZIP_COMPRESSION if compression == "zip" else OpenEXR.NO_COMPRESSION
        assert exr.header()["compression"] == expected
    assert pixels.dtype == np.float32 and pixels.shape == shape
    assert np.array_equal(pixels, depth)


def test_exr_of_flat_depth_is_compressed():
    assert len(encode_exr_float(np.full((256, 256), 3.5, np.float32), compression="zip")) < 256 * 256 * 4 / 20


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (480, 832)])
def test_png16_round_trips_exactly(shape):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 65536, shape).astype(np.uint16)
    ids[0, 0] = 65535
    with Image.open(io.BytesIO(encode_png_gray16(ids))) as image:
        assert image.mode == "I;16"
        assert np.array_equal(np.array(image), ids)


def test_png16_rejects_out_of_range_values():
    with pytest.raises(ValueError):
        encode_png_gray16(np.array([[70000]]))


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (480, 832, 3)])
def test_png_rgb8_round_trips_exactly(shape):
    from neural_previs.addon.image_files import encode_png_rgb8

    pixels = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png_rgb8(pixels))) as image:
        assert image.mode == "RGB"
        assert np.array_equal(np.array(image), pixels)
