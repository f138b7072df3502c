"""The run's TensorBoard writer writes the events torch's ``SummaryWriter`` writes, readable by TensorBoard."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.common.tb_writer import ScalarWriter, crc32c, masked_crc32c, record

SCALARS = [("episode/mean_jct", 91.18283395875595, 50), ("train/loss", 0.25, 100), ("train/epsilon", 1, 100),
           ("episode/collisions", 0, 150), ("train/loss", -3.5e-9, 2_000_000_000_000)]


def _read(logdir: Path) -> list:
    """The events of the one file in ``logdir``, through TensorBoard's own reader (which checks every CRC)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    (path,) = logdir.iterdir()
    assert path.name.startswith("events.out.tfevents.")
    return list(EventFileLoader(str(path)).Load())


def test_the_checksum_is_crc32c_and_tensorboards():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as theirs

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    for data in (b"", b"\x00", bytes(range(256)) * 3):
        assert masked_crc32c(data) == theirs(data)
    assert len(record(b"abc")) == 8 + 4 + 3 + 4


def test_scalars_read_back_as_summary_writers(tmp_path: Path):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    ours, theirs = ScalarWriter(tmp_path / "ours"), torch_tb.SummaryWriter(str(tmp_path / "theirs"))
    for tag, value, step in SCALARS:
        ours.add_scalar(tag, value, step)
        theirs.add_scalar(tag, value, step)
    ours.close()
    ours.close()  # idempotent
    theirs.close()
    a, b = _read(tmp_path / "ours"), _read(tmp_path / "theirs")
    assert len(a) == len(b) == len(SCALARS) + 1
    assert a[0].file_version == b[0].file_version == "brain.Event:2"
    for x, y in zip(a[1:], b[1:]):
        x.ClearField("wall_time")
        y.ClearField("wall_time")
        assert x == y  # tag, step and simple_value, field for field
    assert [(e.summary.value[0].tag, e.step) for e in a[1:]] == [(t, s) for t, _, s in SCALARS]


def test_a_training_logs_its_episodes_and_losses(tmp_path: Path):
    from agents.harness.train import train

    run = train("idqn", "central", {"scenario": "paper", "n_edges": 6, "horizon": 12}, 36, 0, tmp_path / "r", "cpu",
                hparams={"learning_starts": 20, "batch_size": 8, "hidden": [8]}, progress=False)
    tags = {(e.summary.value[0].tag, e.step) for e in _read(run / "tb")[1:]}
    assert {("episode/episode_return", 12), ("episode/mean_jct", 36), ("train/loss", 24), ("train/epsilon", 36)} <= tags
