"""Open Ephys settings.xml Neuropixels geometry (binary and legacy formats) equals what
probeinterface's `read_openephys_neuropixels` reads from the same settings files."""

from __future__ import annotations

import numpy as np
import pytest

from app.io import open_datafile
from tests.io.writers_ephys import write_binary_recording, write_legacy_recording

pi = pytest.importorskip("probeinterface")
N = 384


def np1_banks() -> list[int]:
    return [c % 3 if c < 192 else (c + 1) % 2 for c in range(N)]


def np1_plugin_xy(channel: int, bank: int) -> tuple[int, int]:
    """Where the Neuropix-PXI plugin puts NP1.0 electrode bank * 384 + channel (its own x origin)."""
    electrode = bank * 384 + channel
    row, col = divmod(electrode, 2)
    return (27 if row % 2 == 0 else 11) + 32 * col, 20 * row


def old_probe_element() -> str:
    banks = np1_banks()
    channels = " ".join(f'CH{c}="{b}"' for c, b in enumerate(banks))
    xs = " ".join(f'CH{c}="{np1_plugin_xy(c, b)[0]}"' for c, b in enumerate(banks))
    ys = " ".join(f'CH{c}="{np1_plugin_xy(c, b)[1]}"' for c, b in enumerate(banks))
    return (f'<NP_PROBE slot="2" port="1" dock="0" probe_serial_number="1800" probe_part_number="PRB_1_4_0480_1" '
            f'isEnabled="1"><CHANNELS {channels}/><ELECTRODE_XPOS {xs}/><ELECTRODE_YPOS {ys}/></NP_PROBE>')


def new_probe_element(serial: str, part: str, indices: list[int]) -> str:
    selected = " ".join(f'CH{k}="{i}"' for k, i in enumerate(indices))
    return (f'<NP_PROBE slot="2" port="{serial[-1]}" dock="1" probe_serial_number="{serial}" '
            f'probe_part_number="{part}" isEnabled="1"><SELECTED_ELECTRODES {selected}/></NP_PROBE>')


def settings_xml(version: str, probes: list[str], names: list[str], custom: bool) -> str:
    streams = "".join(f'<STREAM name="{n}-AP" sample_rate="30000"/><STREAM name="{n}-LFP" sample_rate="2500"/>'
                      for n in names)
    editor = (f"<EDITOR><CUSTOM_PARAMETERS>{''.join(probes)}</CUSTOM_PARAMETERS></EDITOR>" if custom
              else f"<EDITOR>{''.join(probes)}</EDITOR>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><SETTINGS><INFO><VERSION>{version}</VERSION></INFO>'
            f'<SIGNALCHAIN><PROCESSOR name="Neuropix-PXI" libraryVersion="0.4.0" NodeId="100">{streams}{editor}'
            f'</PROCESSOR><PROCESSOR name="Record Node" NodeId="101"/></SIGNALCHAIN></SETTINGS>')


def binary_recording(tmp_path, settings: str, folders: list[str]):
    node = tmp_path / "Record Node 101"
    streams = [{"folder": f, "data": np.zeros((20, N), np.int16), "bit_volts": [0.195] * N,
                "sample_rate": 30000.0, "first_sample": 0} for f in folders]
    oebin = write_binary_recording(node / "experiment1" / "recording1", streams)
    (node / "settings.xml").write_text(settings)
    return oebin, node / "settings.xml"


def test_binary_old_plugin_positions_equal_probeinterface(tmp_path):
    oebin, settings = binary_recording(tmp_path, settings_xml("0.6.7", [old_probe_element()], ["ProbeA"], False),
                                       ["Neuropix-PXI-100.ProbeA-AP"])
    geometry = open_datafile(str(oebin), {}, "openephys_binary").channel_geometry()
    theirs = pi.read_openephys_neuropixels(settings, stream_name="Neuropix-PXI-100.ProbeA-AP")
    assert geometry is not None and geometry.source == "header"
    np.testing.assert_allclose(geometry.positions, theirs.contact_positions)
    assert geometry.positions[:, 1].max() > 20 * 191          # banks 1 and 2 reach far above bank 0


def test_binary_two_probes_selected_electrodes_pick_the_stream(tmp_path):
    four = [(c % 4) * 1280 + c // 4 + 300 for c in range(N)]
    single = [c + 640 * (c % 2) for c in range(N)]
    probes = [new_probe_element("1801", "NP2014", four), new_probe_element("1802", "NP2000", single)]
    folders = ["Neuropix-PXI-100.ProbeA-AP", "Neuropix-PXI-100.ProbeB-AP"]
    oebin, settings = binary_recording(tmp_path, settings_xml("1.0.0", probes, ["ProbeA", "ProbeB"], True), folders)
    for folder in folders:
        geometry = open_datafile(str(oebin), {"stream_name": folder}, "openephys_binary").channel_geometry()
        theirs = pi.read_openephys_neuropixels(settings, stream_name=folder)
        np.testing.assert_allclose(geometry.positions, theirs.contact_positions)
        assert geometry.model_name == theirs.annotations["part_number"]
    first = open_datafile(str(oebin), {"stream_name": folders[0]}, "openephys_binary").channel_geometry()
    assert first.shank_count == 4


def test_non_probe_stream_gets_no_neuropixels_geometry(tmp_path):
    oebin, _ = binary_recording(tmp_path, settings_xml("0.6.7", [old_probe_element()], ["ProbeA"], False),
                                ["Rhythm_FPGA-100.0"])
    assert open_datafile(str(oebin), {}, "openephys_binary").channel_geometry() is None


def test_legacy_recording_reads_the_settings_beside_it(tmp_path):
    write_legacy_recording(tmp_path, np.zeros((1024, 16), np.int16))
    settings = tmp_path / "settings.xml"
    settings.write_text(settings_xml("0.4.4", [old_probe_element()], [], False))
    geometry = open_datafile(str(tmp_path), {}, "openephys").channel_geometry()
    theirs = pi.read_openephys_neuropixels(settings)
    np.testing.assert_array_equal(geometry.channels, np.arange(16))     # the first 16 of 384 were recorded
    np.testing.assert_allclose(geometry.positions, theirs.contact_positions[:16])


# -- NWB electrodes table ---------------------------------------------------------------------------

def test_nwb_geometry_equals_spikeinterface_locations(tmp_path):
    """NWB has no probeinterface reader: SpikeInterface's NWB reader (rel_x/rel_y) is the reference."""
    pynwb = pytest.importorskip("pynwb")
    se = pytest.importorskip("spikeinterface.extractors")
    import datetime

    from pynwb.ecephys import ElectricalSeries
    nwb = pynwb.NWBFile("probe", "id", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("probe")
    groups = [nwb.create_electrode_group(f"shank{k}", "s", "CA1", device) for k in range(2)]
    for k in range(8):
        nwb.add_electrode(group=groups[k // 4], location="CA1", x=0.0, y=0.0, z=0.0,
                          rel_x=float(250 * (k // 4) + 16 * (k % 2)), rel_y=float(20 * (k % 4)))
    region = nwb.create_electrode_table_region(list(range(8)), "all")
    nwb.add_acquisition(ElectricalSeries(name="raw", data=np.zeros((50, 8), np.int16), electrodes=region,
                                         rate=30000.0, conversion=1e-6))
    path = tmp_path / "probe.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    geometry = open_datafile(str(path), {}, "nwb").channel_geometry()
    theirs = se.read_nwb_recording(str(path), electrical_series_path="acquisition/raw")
    np.testing.assert_allclose(geometry.positions, theirs.get_channel_locations())
    np.testing.assert_array_equal(geometry.shank_ids, [0, 0, 0, 0, 1, 1, 1, 1])


# -- MEA grids ----------------------------------------------------------------------------------------

def test_mcs_60mea_labels_place_the_grid(tmp_path):
    from tests.io.writers import write_mcs_raw
    labels = [f"El_{c}{r}" for c in range(1, 9) for r in range(1, 9) if (c, r) not in
              {(1, 1), (1, 8), (8, 1), (8, 8)}]
    path = write_mcs_raw(tmp_path / "mea.raw", np.full((10, 60), 32768, np.uint16), names=labels)
    geometry = open_datafile(str(path), {"data_dtype": "uint16"}, "mcs_raw_binary").channel_geometry()
    assert len(geometry) == 60 and "60MEA200/30" in geometry.description
    np.testing.assert_allclose(geometry.positions[0], [0, 200])              # El_12: column 1, row 2
    np.testing.assert_allclose(geometry.positions[-1], [1400, 1200])         # El_87


def test_sequential_mcs_names_are_not_a_grid(tmp_path):
    from tests.io.writers import write_mcs_raw
    path = write_mcs_raw(tmp_path / "seq.raw", np.full((10, 4), 32768, np.uint16))   # El_01..El_04
    assert open_datafile(str(path), {"data_dtype": "uint16"}, "mcs_raw_binary").channel_geometry() is None


def test_brw_grid_equals_probeinterface(tmp_path):
    from tests.io.test_brw import N_CHANNELS, _frames, write_brw
    path = write_brw(tmp_path / "grid.brw", _frames(100))
    geometry = open_datafile(str(path), {}, "brw").channel_geometry()
    assert len(geometry) == N_CHANNELS and "42" in geometry.description
    np.testing.assert_allclose(geometry.positions, pi.read_3brain(path).contact_positions)
    assert len(np.unique(geometry.positions, axis=0)) == N_CHANNELS


def test_maxwell_mapping_equals_probeinterface(tmp_path):
    from tests.io.test_maxwell import _counts, write_legacy
    path = write_legacy(tmp_path / "max.h5", _counts(8, 500), list(range(8)))
    geometry = open_datafile(str(path), {}, "maxwell").channel_geometry()
    np.testing.assert_allclose(geometry.positions, pi.read_maxwell(path).contact_positions)


def test_channel_map_before_the_record_node_reorders_like_probeinterface(tmp_path):
    single = [c + 640 * (c % 2) for c in range(N)]
    order = list(range(N))[::-1]
    mapper = ('<PROCESSOR name="Channel Map" NodeId="102"><STREAM name="ProbeA-AP"/><CUSTOM_PARAMETERS>'
              '<STREAM>' + "".join(f'<CH index="{k}"/>' for k in order) + '</STREAM></CUSTOM_PARAMETERS></PROCESSOR>')
    text = settings_xml("1.0.0", [new_probe_element("1802", "NP2000", single)], ["ProbeA"], True)
    text = text.replace('<PROCESSOR name="Record Node"', mapper + '<PROCESSOR name="Record Node"')
    oebin, settings = binary_recording(tmp_path, text, ["Neuropix-PXI-100.ProbeA-AP"])
    geometry = open_datafile(str(oebin), {}, "openephys_binary").channel_geometry()
    theirs = pi.read_openephys_neuropixels(settings, stream_name="Neuropix-PXI-100.ProbeA-AP")
    np.testing.assert_allclose(geometry.positions, theirs.contact_positions)
    assert geometry.positions[0, 1] > geometry.positions[-1, 1]       # reversed by the map


def test_nwb_export_carries_the_header_geometry(tmp_path):
    """SpikeGLX -> NWB: the electrodes table gets the imro table's positions; the sync word none."""
    pytest.importorskip("pynwb")
    from app.io.convert_options import ConvertSpec
    from app.io.nwb_out import convert_to_nwb
    from tests.io.test_probe_geometry import imec_meta, imro_np2_four, write
    path, _ = write(tmp_path, imec_meta(16, imro_np2_four(16), "NP2014"))
    source = open_datafile(str(path))
    out = tmp_path / "np.nwb"
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", write_params=False))
    back = open_datafile(str(out), {}, "nwb").channel_geometry()
    header = source.channel_geometry()
    np.testing.assert_array_equal(back.channels, np.arange(16))
    np.testing.assert_allclose(back.positions, header.positions)
    np.testing.assert_array_equal(back.shank_ids, header.shank_ids)
