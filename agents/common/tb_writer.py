"""TensorBoard scalars without torch's ``SummaryWriter``: the same event file, records and protocol buffers.

Why: a training logs only scalars, and ``torch.utils.tensorboard`` costs about 0.13 s of CPU to import (TensorBoard's
summary package and its TensorFlow stub) plus a writer thread, more than a short run spends on everything it logs.
``ScalarWriter`` writes what ``SummaryWriter(logdir).add_scalar(tag, value, step)`` writes: a file
``events.out.tfevents.<time>.<host>.<pid>.<n>`` that opens with the ``brain.Event:2`` file-version event, then one
``Event(wall_time, step, summary=Summary(value=[Value(tag, simple_value)]))`` per scalar, each in TFRecord framing
(length, masked CRC-32C of the length, the serialized event, masked CRC-32C of it). The messages are TensorBoard's
own (``tensorboard.compat.proto``); only the framing is written here.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> tuple[int, ...]:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of every byte value."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


_TABLE = _crc32c_table()
_FILES = itertools.count()
"""The ``<n>`` of a file name, per process (as TensorBoard's own counter)."""


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (the checksum TFRecord files use)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` in TFRecord framing."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


class ScalarWriter:
    """``add_scalar``/``flush``/``close`` of ``torch.utils.tensorboard.SummaryWriter``, synchronous and for scalars
    only. Records are buffered and written at least every ``flush_secs`` (``SummaryWriter``'s default, 120 s) and
    at ``flush``/``close``; the run's durable record is ``episodes.csv`` and the checkpoint, as with
    ``SummaryWriter``'s own buffering."""

    def __init__(self, logdir: str | Path, flush_secs: float = 120.0):
        from tensorboard.compat.proto import event_pb2, summary_pb2

        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        Path(logdir).mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_FILES)}"
        self.path = Path(logdir) / name
        self._file = self.path.open("wb")
        self._flush_secs, self._flushed = flush_secs, time.monotonic()
        first = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2",
                                source_metadata=event_pb2.SourceMetadata(writer=__name__))
        self._file.write(record(first.SerializeToString()))
        self.flush()

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> None:
        """One scalar event (``SummaryWriter.add_scalar``'s ``simple_value``)."""
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(scalar_value))])
        event = self._event(wall_time=time.time(), summary=summary)
        if global_step is not None:
            event.step = int(global_step)
        self._file.write(record(event.SerializeToString()))
        if time.monotonic() - self._flushed >= self._flush_secs:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records to the file."""
        if not self._file.closed:
            self._file.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if not self._file.closed:
            self._file.close()
