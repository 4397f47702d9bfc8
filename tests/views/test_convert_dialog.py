"""The convert dialog builds a ConvertSpec; its command line asks the engine for that spec."""

from __future__ import annotations

import argparse
import os

from app.io import open_datafile
from app.io.convert_options import ConvertSpec, add_convert_options, spec_from_args
from app.views.convert_dialog import ConvertDialog
from tests.conftest import synthetic_int16

OPEN = {"nb_channels": 8, "data_dtype": "int16", "sampling_rate": 20000.0}


def test_dialog_builds_the_spec_the_command_carries(qtbot, make_raw):
    path = make_raw("rec.dat", synthetic_int16(4000, 8))
    dialog = ConvertDialog.for_datafile(open_datafile(path, dict(OPEN), "raw_binary"))
    qtbot.addWidget(dialog)
    dialog.to_format.setCurrentText("hdf5")
    dialog.channels.setText("1-3,7")
    dialog.start.setValue(0.05)
    dialog.highpass_on.setChecked(True)
    dialog.highpass.setValue(250.0)
    dialog.verify.setChecked(True)
    spec = dialog.spec()
    assert spec == ConvertSpec(output=os.path.abspath(dialog.output.text()), to_format="hdf5", channels=[1, 2, 3, 7],
                               start=0.05, highpass=250.0, verify=True, out_settings={"h5_key": "data"})
    job = dialog.job()
    assert job.spec == spec and job.source == path
    parser = argparse.ArgumentParser()
    add_convert_options(parser)
    command = job.command()
    assert spec_from_args(parser.parse_known_args(command[command.index("json") + 1:])[0]) == spec
