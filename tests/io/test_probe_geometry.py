"""Header probe geometry: SpikeGLX .meta (imro tables, snsGeomMap, snsShankMap) read by Wavescope
equals what probeinterface reads from the same files, including non-default bank selections."""

from __future__ import annotations

import numpy as np
import pytest

from app.io import open_datafile
from app.io.errors import ProbeError
from app.io.probe import linear_probe
from app.io.probe_geometry import ProbeGeometry
from tests.io.writers_ephys import write_spikeglx

pi = pytest.importorskip("probeinterface")


def imro_np1(n: int) -> str:
    """NP1.0 imro with a mixed bank selection: electrodes from banks 0, 1 and 2."""
    banks = [c % 3 if c < 192 else (c + 1) % 2 for c in range(n)]
    return f"(0,{n})" + "".join(f"({c} {b} 0 500 250 1)" for c, b in enumerate(banks))


def imro_np2_single(n: int) -> str:
    return f"(21,{n})" + "".join(f"({c} 1 0 {c + 256 * (c % 2)})" for c in range(n))


def imro_np2_four(n: int) -> str:
    return f"(24,{n})" + "".join(f"({c} {c % 4} 0 0 {c // 4 + 384 * (c % 2)})" for c in range(n))


def imec_meta(n: int, imro: str, part: str, subset: str = "all", saved: int | None = None) -> dict:
    return {"typeThis": "imec", "imDatPrb_pn": part, "imAiRangeMax": "0.6", "imAiRangeMin": "-0.6",
            "imSampRate": "30000", "nSavedChans": str(saved if saved is not None else n + 1),
            "snsApLfSy": f"{n},0,1", "snsSaveChanSubset": subset, "~imroTbl": imro}


def write(tmp_path, meta: dict, name: str = "run_g0_t0.imec0.ap.bin"):
    n = int(meta["nSavedChans"])
    path = write_spikeglx(tmp_path / name, np.zeros((10, n), np.int16), meta)
    return path, path.with_suffix(".meta")


@pytest.mark.parametrize("part,imro", [("NP1000", imro_np1), ("PRB_1_4_0480_1", imro_np1),
                                       ("NP2000", imro_np2_single), ("NP2014", imro_np2_four)])
def test_spikeglx_imro_geometry_equals_probeinterface(tmp_path, part, imro):
    path, meta = write(tmp_path, imec_meta(384, imro(384), part))
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    theirs = pi.read_spikeglx(meta)
    assert geometry.source == "header" and geometry.model_name == part
    np.testing.assert_array_equal(geometry.channels, np.arange(384))        # the sync word has no contact
    np.testing.assert_allclose(geometry.positions, theirs.contact_positions)
    shanks = theirs.shank_ids
    np.testing.assert_array_equal(geometry.shank_ids, np.zeros(384, int) if shanks is None or shanks[0] == ""
                                  else shanks.astype(int))
    assert len(np.unique(geometry.positions, axis=0)) == 384


def test_non_default_banks_are_not_the_default_geometry(tmp_path):
    path, _ = write(tmp_path, imec_meta(384, imro_np1(384), "NP1000"))
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    default = pi.read_spikeglx(write(tmp_path / "d", imec_meta(384, imro_np1(384).replace(" 1 0 500", " 0 0 500")
                                                                .replace(" 2 0 500", " 0 0 500"), "NP1000"))[1])
    assert geometry.positions[:, 1].max() > default.contact_positions[:, 1].max()


def test_saved_channel_subset_equals_probeinterface(tmp_path):
    meta = imec_meta(384, imro_np1(384), "NP1000", subset="0:9,50:59,768", saved=21)
    path, meta_path = write(tmp_path, meta)
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    theirs = pi.read_spikeglx(meta_path)
    np.testing.assert_array_equal(geometry.channels, np.arange(20))
    np.testing.assert_allclose(geometry.positions, theirs.contact_positions)


def test_snsgeommap_when_the_imro_type_is_unknown(tmp_path):
    n = 4
    meta = imec_meta(n, "(9999,4)(0 0 0 0)(1 0 0 0)(2 0 0 0)(3 0 0 0)", "NPX_FUTURE")
    meta["~snsGeomMap"] = "(NPX_FUTURE,2,250,70)(0:27:0:1)(0:59:0:1)(1:11:20:1)(1:43:20:1)"
    path, _ = write(tmp_path, meta)
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    assert "snsGeomMap" in geometry.description
    np.testing.assert_array_equal(geometry.shank_ids, [0, 0, 1, 1])
    np.testing.assert_allclose(geometry.positions, [[27, 0], [59, 0], [261, 20], [293, 20]])


def test_snsshankmap_fallback(tmp_path):
    meta = imec_meta(3, "(7777,3)(0 0)(1 0)(2 0)", "")
    meta["~snsShankMap"] = "(1,2,480)(0:0:0:1)(0:1:0:1)(0:0:1:1)"
    path, _ = write(tmp_path, meta)
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    np.testing.assert_allclose(geometry.positions, [[0, 0], [32, 0], [0, 20]])
    assert "assumed" in geometry.description


def test_nidq_has_no_geometry(tmp_path):
    from tests.io.writers_ephys import nidq_meta
    path = write_spikeglx(tmp_path / "run_g0_t0.nidq.bin", np.zeros((10, 4), np.int16), nidq_meta(2, 1, 0, 1))
    assert open_datafile(str(path), {}, "spikeglx").channel_geometry() is None


# -- the record itself ------------------------------------------------------------------------------

def test_geometry_to_probe_and_back():
    geometry = ProbeGeometry(np.array([0, 1, 3]), np.array([[0, 0], [0, 20.5], [250, 0]]), np.array([0, 0, 1]),
                             "generated", "test")
    probe = geometry.to_probe(5, radius=50)
    assert probe.total_nb_channels == 5 and list(probe.channel_groups) == [0, 1]
    assert probe.channel_groups[0].geometry == {0: (0, 0), 1: (0, 20.5)}
    back = ProbeGeometry.from_probe(probe, "file", "back")
    np.testing.assert_array_equal(back.channels, geometry.channels)
    np.testing.assert_array_equal(back.positions, geometry.positions)
    np.testing.assert_array_equal(back.depth_order(), [0, 3, 1])
    assert np.isnan(geometry.positions_for(5)[2]).all()


def test_differences_flag_a_mismatch_and_ignore_a_shift():
    header = ProbeGeometry.from_probe(linear_probe(8), "header", "h")
    shifted = ProbeGeometry(header.channels, header.positions + [11, 0], None, "file", "f")
    assert header.differences(shifted) == []
    swapped = ProbeGeometry(header.channels[::-1], header.positions, None, "file", "f")
    assert any("sit elsewhere" in p for p in header.differences(swapped))
    fewer = ProbeGeometry(header.channels[:4], header.positions[:4], None, "file", "f")
    assert any("header only" in p for p in header.differences(fewer))


def test_geometry_rejects_bad_shapes_and_foreign_channels():
    with pytest.raises(ProbeError, match="positions of shape"):
        ProbeGeometry(np.arange(3), np.zeros((2, 2)), None)
    with pytest.raises(ProbeError, match="two\\s+contacts|two contacts"):
        ProbeGeometry(np.array([1, 1]), np.zeros((2, 2)), None)
    with pytest.raises(ProbeError, match="outside the recording"):
        ProbeGeometry(np.arange(4), np.zeros((4, 2)), None).check_fits(3)


def test_si_bridge_takes_the_header_geometry(tmp_path):
    pytest.importorskip("spikeinterface")
    from app.io.si_bridge import to_si_recording
    path, meta = write(tmp_path, imec_meta(16, imro_np1(16), "NP1000"))
    recording = to_si_recording(open_datafile(str(path), {}, "spikeglx"))
    assert recording.get_num_channels() == 16                   # the sync word is not a site
    np.testing.assert_allclose(recording.get_channel_locations(), pi.read_spikeglx(meta).contact_positions)


def imro_bank0(kind: str):
    return lambda n: f"({kind},{n})" + "".join(f"({c} 0 0 500 250 1)" for c in range(n))


def imro_np2003(n: int) -> str:
    return f"(2003,{n})" + "".join(f"({c} 2 0 {c + 384 * (c % 2)})" for c in range(n))


def imro_part_number_header(n: int) -> str:
    """Newer SpikeGLX: the part number leads the header instead of a type code."""
    return f"(NP2014,{n})" + "".join(f"({c} {3 - c % 4} 0 0 {c // 4 + 200})" for c in range(n))


@pytest.mark.parametrize("part,imro", [("NP1100", imro_bank0("1100")), ("NP1120", imro_bank0("1120")),
                                       ("NP1300", imro_np1), ("NP1032", imro_np1), ("NP2003", imro_np2003),
                                       ("NP2014", imro_part_number_header)])
def test_more_models_equal_probeinterface(tmp_path, part, imro):
    path, meta = write(tmp_path, imec_meta(384, imro(384), part))
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    np.testing.assert_allclose(geometry.positions, pi.read_spikeglx(meta).contact_positions)


def test_lf_stream_equals_probeinterface(tmp_path):
    meta = imec_meta(384, imro_np1(384), "NP1000")
    meta.update({"imSampRate": "2500", "snsApLfSy": "0,384,1"})
    path, meta_path = write(tmp_path, meta, "run_g0_t0.imec0.lf.bin")
    geometry = open_datafile(str(path), {}, "spikeglx").channel_geometry()
    np.testing.assert_array_equal(geometry.channels, np.arange(384))
    np.testing.assert_allclose(geometry.positions, pi.read_spikeglx(meta_path).contact_positions)


def test_unknown_probe_without_maps_has_no_geometry(tmp_path):
    path, _ = write(tmp_path, imec_meta(2, "(9999,2)(0 0 0 0)(1 0 0 0)", "NPX_FUTURE"))
    assert open_datafile(str(path), {}, "spikeglx").channel_geometry() is None
