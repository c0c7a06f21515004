"""FileOffsetClock: one offset file moves every process of a trial stack."""

from __future__ import annotations

import time

import pytest

from connector.clock import CLOCK_FILE_ENV, FileOffsetClock, SystemClock, default_clock


def test_a_missing_file_is_the_wall_clock_and_advance_moves_every_reader(tmp_path):
    path = tmp_path / "offset"
    writer, reader = FileOffsetClock(path), FileOffsetClock(path)
    assert abs(reader.now() - time.time()) < 1
    writer.advance(86_400)
    writer.advance(60)
    assert abs(reader.now() - (time.time() + 86_460)) < 1  # another instance sees both moves
    assert reader.offset() == 86_460
    with pytest.raises(ValueError):
        writer.advance(-1)


def test_a_file_that_is_not_a_number_keeps_the_last_offset_read(tmp_path):
    path = tmp_path / "offset"
    clock = FileOffsetClock(path)
    clock.advance(30)
    assert clock.offset() == 30
    path.write_text("not a number \u2603")
    assert clock.offset() == 30


def test_the_environment_chooses_the_clock(tmp_path, monkeypatch):
    monkeypatch.delenv(CLOCK_FILE_ENV, raising=False)
    assert isinstance(default_clock(), SystemClock)
    monkeypatch.setenv(CLOCK_FILE_ENV, str(tmp_path / "offset"))
    clock = default_clock()
    assert isinstance(clock, FileOffsetClock) and clock.path == tmp_path / "offset"
