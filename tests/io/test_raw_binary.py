import numpy as np
import pytest

from app.io import MissingFieldsError, ShapeMismatchError, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 8, "sampling_rate": 20000}


def test_reads_samples_written_by_layout(make_raw):
    data = synthetic_int16(5000, 8)
    path = make_raw("rec.dat", data)
    with open_datafile(path, {**PARAMS, "gain": 0.5}, "raw_binary") as df:
        assert df.shape == (5000, 8)
        out = df.read_range(100, 200, nodes=[3, 1])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data[100:200][:, [3, 1]] * np.float32(0.5))


def test_header_offset_and_uint16_auto_offset(make_raw):
    data = (synthetic_int16(1000, 4).astype(np.int32) + 32768).astype(np.uint16)
    path = make_raw("rec.bin", data, header=b"H" * 64)
    df = open_datafile(path, {"data_dtype": "uint16", "nb_channels": 4, "sampling_rate": 1000,
                              "data_offset": 64}, "raw_binary")
    assert df.dtype_offset == 32768
    np.testing.assert_array_equal(df.read_range(0, 1000), data.astype(np.float32) - 32768)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32", "int32", "uint8"])
def test_conformance(make_raw, tmp_path, dtype):
    base = synthetic_int16(3000, 6)
    data = (base.astype(np.int64) + (32768 if dtype == "uint16" else 0)).astype(dtype) \
        if dtype != "uint8" else (base % 200).astype(np.uint8)
    path = make_raw(f"rec_{dtype}.dat", data)
    expected = (data.astype(np.float64) - {"uint16": 32768, "uint8": 127}.get(dtype, 0)) * 0.25
    assert_conforms(path, "raw_binary", {**PARAMS, "nb_channels": 6, "data_dtype": dtype, "gain": 0.25},
                    expected=expected.astype(np.float32), scratch_dir=str(tmp_path))


def test_multi_files_three_parts(make_raw, tmp_path):
    parts = [synthetic_int16(n, 8, seed=k) for k, n in enumerate((1200, 800, 1500))]
    for k, part in enumerate(parts):
        make_raw(f"session_{k}.dat", part)
    path = str(tmp_path / "session_0.dat")
    df = open_datafile(path, PARAMS, "raw_binary", "multi-files")
    assert df.nb_streams == 3 and df.duration == 3500
    assert [s.t_start for s in df.streams] == [0, 1200, 2000]
    np.testing.assert_array_equal(df.read_range(0, 3500), np.concatenate(parts).astype(np.float32))
    np.testing.assert_array_equal(df.get_snippet(1150, 100), np.concatenate(parts)[1150:1250])
    assert_conforms(path, "raw_binary", PARAMS, "multi-files", expected=np.concatenate(parts),
                    scratch_dir=str(tmp_path))


def test_natural_order_of_parts(make_raw, tmp_path):
    for k in (10, 2, 1, 0):
        make_raw(f"p_{k}.dat", np.full((10, 2), k, dtype=np.int16))
    df = open_datafile(str(tmp_path / "p_2.dat"), {**PARAMS, "nb_channels": 2}, "raw_binary", "multi-files")
    assert df.read_range(0, 40)[::10, 0].tolist() == [0, 1, 2, 10]


def test_missing_fields_lists_types(make_raw):
    path = make_raw("rec.dat", synthetic_int16(100, 4))
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {"nb_channels": 4}, "raw_binary")
    assert caught.value.missing == {"data_dtype": "string", "sampling_rate": "float"}
    assert "rec.dat" in str(caught.value) and "--set" in str(caught.value)


def test_size_not_multiple_of_frame_names_candidates(make_raw):
    path = make_raw("rec.dat", synthetic_int16(1000, 6))
    with pytest.raises(ShapeMismatchError) as caught:
        open_datafile(path, {**PARAMS, "nb_channels": 7}, "raw_binary")
    message = str(caught.value)
    assert "rec.dat" in message and "nb_channels=6" in message
    assert "nb_channels=6" in caught.value.candidates


def test_bad_dtype_and_bad_value(make_raw):
    from app.io import HeaderError
    path = make_raw("rec.dat", synthetic_int16(100, 4))
    with pytest.raises(HeaderError, match="data_dtype"):
        open_datafile(path, {**PARAMS, "data_dtype": "complex64"}, "raw_binary")
    with pytest.raises(HeaderError, match="nb_channels"):
        open_datafile(path, {**PARAMS, "nb_channels": "four"}, "raw_binary")


def test_write_and_parallel_layout(tmp_path):
    from app.io.registry import get_format
    klass = get_format("raw_binary")
    out = klass(str(tmp_path / "out.dat"), PARAMS, is_empty=True)
    out.allocate((1000, 8), "int16")
    out.open("r+")
    data = synthetic_int16(1000, 8).astype(np.float32)
    out.set_data(500, data[500:])     # write the second half first, as another rank would
    out.set_data(0, data[:500])
    out.close()
    raw = np.fromfile(tmp_path / "out.dat", dtype="<i2").reshape(1000, 8)
    np.testing.assert_array_equal(raw, data.astype(np.int16))


def test_opening_does_not_read_samples(tmp_path):
    path = tmp_path / "huge.dat"
    with open(path, "wb") as handle:
        handle.truncate(10 * 2**30)        # sparse 10 GiB
    df = open_datafile(str(path), {**PARAMS, "nb_channels": 64}, "raw_binary")
    assert df.duration == 10 * 2**30 // 128
    chunk = df.read_range(df.duration - 10, df.duration)
    assert chunk.shape == (10, 64) and not chunk.any()


def smooth_int16(n_samples: int, n_channels: int, seed: int = 0) -> np.ndarray:
    """Extracellular-like samples: a slow wave per channel, channel offsets and small noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples)[:, None]
    wave = 400 * np.sin(2 * np.pi * t / rng.uniform(300, 900, n_channels)) + 150 * np.arange(n_channels)
    return np.rint(wave + rng.normal(0, 10, (n_samples, n_channels))).astype(np.int16)


def test_partial_last_frame_opens_whole_frames_and_says_so(make_raw, caplog):
    data = smooth_int16(3000, 8)
    path = make_raw("cut.dat", data)
    with open(path, "ab") as handle:
        handle.write(data[3000 - 1, :5].tobytes() + b"\x07")     # 5 samples and a half of one more frame
    with caplog.at_level("WARNING", logger="wavescope"):
        df = open_datafile(path, PARAMS, "raw_binary")
    assert df.shape == (3000, 8) and df.ignored_bytes == 11
    np.testing.assert_array_equal(df.read_range(2990, 3000), data[2990:].astype(np.float32))
    message = caplog.text
    assert "cut.dat" in message and "last 11 bytes are a partial frame" in message
    assert "not even a whole number of int16 samples" in message and "3000 whole frames" in message
    # noisy channels with offsets, the right count given: a partial frame too, not a wrong layout
    for count in (6, 8, 12):
        noisy = make_raw(f"noisy{count}.dat", synthetic_int16(2001, count, seed=count))
        with open(noisy, "ab") as handle:
            handle.write(b"\x05" * (count + 1))
        assert open_datafile(noisy, {**PARAMS, "nb_channels": count}, "raw_binary").shape == (2001, count)


def test_partial_frame_in_multi_files_parts(make_raw, tmp_path):
    parts = [smooth_int16(n, 8, seed=k) for k, n in enumerate((1200, 800))]
    for k, part in enumerate(parts):
        path = make_raw(f"sess_{k}.dat", part)
    with open(path, "ab") as handle:
        handle.write(b"\x01" * 6)
    df = open_datafile(str(tmp_path / "sess_0.dat"), PARAMS, "raw_binary", "multi-files")
    assert df.duration == 2000 and [s.ignored_bytes for s in df.streams] == [0, 6]
    np.testing.assert_array_equal(df.read_range(0, 2000), np.concatenate(parts).astype(np.float32))


def test_no_whole_frame_is_an_error(make_raw):
    path = make_raw("tiny.dat", np.zeros((1, 5), np.int16))
    with pytest.raises(ShapeMismatchError, match="no whole frame") as caught:
        open_datafile(path, PARAMS, "raw_binary")
    assert "tiny.dat" in str(caught.value) and "nb_channels=5" in caught.value.candidates


def test_text_header_not_skipped_is_an_error_naming_the_offset(make_raw):
    header = b"Recording export\r\nSample rate = 20000\r\nChannels = 8\r\nEOH\r\n"
    path = make_raw("head.dat", smooth_int16(2000, 8), header=header)
    size = len(header)
    with pytest.raises(ShapeMismatchError, match=f"{size}-byte text header: set data_offset={size}"):
        open_datafile(path, PARAMS, "raw_binary")
    assert open_datafile(path, {**PARAMS, "data_offset": len(header)}, "raw_binary").shape == (2000, 8)


def test_wrong_channel_count_on_smooth_signals_is_refused_but_noise_opens(make_raw, tmp_path, caplog):
    path = make_raw("rec.dat", smooth_int16(3000, 12))
    with pytest.raises(ShapeMismatchError, match="continuous signals with nb_channels=12"):
        open_datafile(path, {**PARAMS, "nb_channels": 7}, "raw_binary")
    # independent samples say nothing about the layout: a remainder is taken as a partial frame,
    # and the log names the counts that would divide evenly
    noise = make_raw("noise.dat", np.random.default_rng(1).integers(-500, 500, (3000, 12)).astype(np.int16))
    with caplog.at_level("WARNING", logger="wavescope"):
        df = open_datafile(noise, {**PARAMS, "nb_channels": 7}, "raw_binary")
    assert df.shape == (3000 * 12 // 7, 7) and df.ignored_bytes == 3000 * 12 * 2 % 14
    assert "nb_channels=12" in caplog.text or "nb_channels=6" in caplog.text


def test_mcs_raw_binary_partial_frame(tmp_path):
    from tests.io.writers import write_mcs_raw
    data = smooth_int16(1500, 4)
    path = write_mcs_raw(tmp_path / "slice.raw", data, adc_zero=0)
    with open(path, "ab") as handle:
        handle.write(b"\x00\x01\x02")
    df = open_datafile(str(path), {"data_dtype": "int16"}, "mcs_raw_binary")
    assert df.shape == (1500, 4) and df.ignored_bytes == 3
    np.testing.assert_allclose(df.read_range(1490, 1500), data[1490:] * np.float32(df.gain), rtol=1e-6)


def test_info_reports_ignored_bytes(make_raw, tmp_path, capsys):
    import json

    from app.cli import main
    for k, extra in enumerate((b"", b"\x01\x02\x03")):
        path = make_raw(f"run_{k}.dat", smooth_int16(1000, 8, seed=k))
        with open(path, "ab") as handle:
            handle.write(extra)
    sets = ["--format", "raw_binary", "--set", "data_dtype=int16", "--set", "nb_channels=8", "--set", "sampling_rate=20000"]
    assert main(["info", str(tmp_path / "run_1.dat"), *sets]) == 0
    out = capsys.readouterr().out
    assert "ignored       3 bytes after the last whole frame" in out and "1000 samples" in out
    assert main(["info", str(tmp_path / "run_0.dat"), *sets, "--stream-mode", "multi-files", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ignored_bytes"] == 3 and [s["ignored_bytes"] for s in info["streams"]] == [0, 3]
    assert info["duration"] == 2000
    assert main(["info", str(tmp_path / "run_0.dat"), *sets]) == 0
    assert "\nignored " not in capsys.readouterr().out
