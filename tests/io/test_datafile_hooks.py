"""Optional DataFile hooks are declared on DataFile with working defaults; callers call them."""

from __future__ import annotations

import inspect

import numpy as np

from app.io import events as events_module
from app.io import registry, sniff
from app.io.datafile import DataFile
from app.io.events import EVENT_DTYPE, make_events
from app.io.formats.raw_binary import RawBinaryFile

PARAMS = {"nb_channels": 2, "sampling_rate": 1000.0, "data_dtype": "int16"}


class Plain(DataFile):
    description = "plain_test"
    extension = [".pln"]


class Counting(RawBinaryFile):
    """raw_binary with an event every 100 local samples, counting how often they are read."""

    reads = 0

    def _local_events(self):
        type(self).reads += 1
        return make_events(np.arange(0, self.duration, 100), "tick", "")


def test_defaults_sniff_by_extension_and_have_no_events(make_raw):
    assert Plain.sniff("/data/rec.PLN") == (0.5, "extension .pln")
    assert Plain.sniff("/data/rec.dat") is None and not Plain.sniffs_content()
    assert RawBinaryFile.sniffs_content() is False
    from app.io.formats.hdf5 import Hdf5File
    assert Hdf5File.sniffs_content() and Hdf5File._write_default_values == {"h5_key": "data"}
    path = make_raw("rec.dat", np.zeros((50, 2), np.int16))
    plain = RawBinaryFile(path, dict(PARAMS))
    assert plain._local_events().dtype == EVENT_DTYPE and len(plain.get_events()) == 0
    assert plain.ignored_bytes == 0


def test_events_are_loaded_once_and_kept_by_the_datafile(tmp_path, make_raw):
    for k in range(2):
        make_raw(f"rec_{k}.dat", np.zeros((250, 2), np.int16))
    datafile = Counting(str(tmp_path / "rec_0.dat"), dict(PARAMS), stream_mode="multi-files")
    assert datafile._timeline_events is None                  # opening loads no event
    assert datafile.get_events()["sample"].tolist() == [0, 100, 200, 250, 350, 450]
    assert datafile.get_events(100, 300)["sample"].tolist() == [100, 200, 250]
    assert Counting.reads == 2                                 # one read per part, once
    assert not datafile.get_events().flags.writeable


def test_no_hook_is_probed_with_getattr():
    for module in (registry, sniff, events_module):
        text = inspect.getsource(module)
        for hook in ("sniff", "_local_events", "_write_default_values", "_timeline_events"):
            assert f'getattr(klass, "{hook}"' not in text and f'"{hook}", None)' not in text, (module, hook)
        assert "__dict__[\"_timeline_events\"]" not in text
