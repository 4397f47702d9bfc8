"""ConvertSpec is the one record of the convert options: CLI, job, history and dialog agree."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

import pytest

from app.io.convert_options import (
    ConvertError,
    ConvertSpec,
    add_convert_options,
    format_channels,
    options,
    parse_channels,
    spec_arguments,
    spec_from_args,
    spec_from_dict,
    spec_to_dict,
)
from app.model.jobs import ConvertJob, Job, JobHistory

FULL = ConvertSpec(output="/tmp/out.h5", to_format="hdf5", channels=[0, 1, 2, 3, 9, 7], start=1.5, stop=8.25,
                   dtype="float32", highpass=312.5, chunk_seconds=0.5, force=True, verify=True,
                   out_settings={"h5_key": "data", "gain": "0.5"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_convert_options(parser)
    return parser


def test_every_option_field_is_a_cli_flag_with_help():
    flags = {f.name: f.metadata["flags"] for f in options()}
    assert flags["highpass"] == ("--filter",) and flags["output"] == ("-o", "--output")
    assert set(flags) == {f.name for f in fields(ConvertSpec)} - {"write_params", "base_params"}
    text = _parser().format_help()
    for spec_field in options():
        assert spec_field.metadata["flags"][-1] in text
        assert spec_field.metadata["help"].split(",")[0].split("(")[0].strip()[:20] in " ".join(text.split())


@pytest.mark.parametrize("spec", [FULL, ConvertSpec(output="/tmp/plain.dat")])
def test_spec_survives_the_command_line(spec):
    words = spec_arguments(spec)
    assert spec_from_args(_parser().parse_args(words)) == spec


def test_command_line_words_are_the_users_words():
    words = spec_arguments(FULL)
    assert words[words.index("--channels") + 1] == "0-3,9,7"
    assert words[words.index("--filter") + 1] == "highpass:312.5"
    assert words.count("--out-set") == 2 and "h5_key=data" in words
    assert "--start" not in spec_arguments(ConvertSpec(output="x.dat"))   # defaults are not repeated
    # ... but the format always is: an output named .nwb must not turn a raw_binary job into NWB
    words = spec_arguments(ConvertSpec(output="x.nwb"))
    assert words[words.index("--to") + 1] == "raw_binary"
    assert spec_from_args(_parser().parse_args(words)).to_format == "raw_binary"


def test_channels_text_round_trip_and_errors():
    for channels in ([0], [5, 6, 7, 2, 3], list(range(64))):
        assert parse_channels(format_channels(channels)) == channels
    with pytest.raises(ConvertError, match="--channels"):
        parse_channels("3-x")
    with pytest.raises(ConvertError, match="--out-set takes KEY=VALUE"):
        spec_from_args(argparse.Namespace(**{**vars(_parser().parse_args(["-o", "x"])), "out_settings": ["k"]}))


@pytest.mark.parametrize("words", [["--out-set", "nokey"], ["--channels", "1-x"], ["--filter", "lowpass:3"]])
def test_malformed_option_text_is_a_usage_error(words, capsys):
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(["-o", "x", *words])
    assert stopped.value.code == 2 and words[0] in capsys.readouterr().err


def test_job_holds_the_spec_and_its_command_asks_for_it():
    job = ConvertJob(spec=FULL, source="in.dat", file_format="raw_binary", settings={"nb_channels": 16})
    command = job.command()
    assert command[:4] == [sys.executable, "-m", "app", "convert"]
    tail = command[command.index("json") + 1:]
    parsed = _parser().parse_known_args(tail)[0]
    assert spec_from_args(parsed) == FULL
    assert job.output == FULL.output and job.highpass == 312.5        # the spec's options, read through the job
    job.start = 2.0
    assert job.spec.start == 2.0


def test_history_stores_the_spec_and_reads_old_flat_entries(tmp_path):
    history = JobHistory(tmp_path / "jobs.json")
    job = ConvertJob(spec=FULL, source="in.dat", ranks=3)
    history.save([job])
    stored = json.loads((tmp_path / "jobs.json").read_text())
    assert stored[0]["spec"] == spec_to_dict(FULL) and "highpass" not in stored[0]
    (loaded,) = history.load()
    assert loaded.spec == FULL and loaded.ranks == 3 and loaded.source == "in.dat"
    old = {"kind": "convert", "id": "abc", "status": "done", "source": "a.dat", "output": "b.dat",
           "to_format": "hdf5", "channels": "0-3", "highpass": 300.0, "out_settings": {"h5_key": "d"},
           "force": True, "ranks": 2, "hostfile": None, "removed_in_future": 1}
    legacy = Job.from_dict(old)
    assert legacy.spec == ConvertSpec(output="b.dat", to_format="hdf5", channels=[0, 1, 2, 3], highpass=300.0,
                                      out_settings={"h5_key": "d"}, force=True)
    assert legacy.ranks == 2 and legacy.id == "abc"


def test_spec_dict_ignores_unknown_keys():
    assert spec_from_dict({**spec_to_dict(FULL), "from_a_newer_version": 1}) == FULL
