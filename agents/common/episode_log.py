"""A run's episode log (``episodes.csv``): one row per finished training episode, appended as training goes, that
survives a crash. Read line by line, so one damaged line never hides the others; also reads the logs of older
versions (the same CSV)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srole_common import persist

EPISODE_KEYS = ("episode", "total_rounds", "episode_return")
"""The first columns of every episode log."""


class EpisodeLog:
    """Appends one CSV row (and TensorBoard scalars) per finished training episode: a log that survives a crash.

    The file is line-delimited: one episode per physical line (strings lose their line breaks), each line parsed on
    its own, so a damaged line can never swallow the lines after it (as one unbalanced quote does to a whole-file
    CSV reader). Each row is first written to a side file (``.episodes.csv.last``), then appended with one
    ``write``: a crash mid-append leaves a torn last line that the next open restores from the side file, so the
    episode is kept. A damaged line in the middle (or a torn line that cannot be repaired) is
    moved to ``episodes.csv.damaged`` with a warning naming the file and the line; the good rows all stay.

    Columns are fixed by the first row written (or by the existing file). ``keep_before(k)`` drops rows of
    episodes >= k, which a resumed run calls so that episodes logged after its checkpoint are not doubled.
    """

    def __init__(self, path: Path, writer: Any | None = None):
        self.path = Path(path)
        self.writer = writer
        self._fields: list[str] | None = None
        if self.path.is_file():
            scan = _scan(self.path)
            if not scan.fields:
                self._first_write_torn()
            else:
                self._fields = scan.fields
                if scan.damaged or scan.torn is not None:
                    self._rewrite(scan, None)

    @property
    def last_row_path(self) -> Path:
        """The side file holding the last row appended (repairs a torn last line)."""
        return self.path.with_name(f".{self.path.name}.last")

    @property
    def quarantine_path(self) -> Path:
        """Where damaged lines are moved, each with its line number."""
        return self.path.with_name(f"{self.path.name}.damaged")

    def keep_before(self, episode: int) -> None:
        """Drop the rows of episodes ``>= episode`` (a resumed run replays them); every earlier row stays."""
        if not self.path.is_file():
            return
        self._rewrite(_scan(self.path), episode)

    def _rewrite(self, scan: _Scan, before: int | None) -> None:
        """Rewrite the log atomically: good rows (repaired torn tail included), damaged lines quarantined."""
        rows = list(scan.rows)
        damaged = list(scan.damaged)
        if scan.torn is not None:
            repaired = self._repair(scan)
            if repaired is not None:
                rows.append((scan.torn[0], repaired))
            else:
                episode = _episode_of(scan.torn[1], scan.fields)
                if before is None or episode is None or episode < before:
                    damaged.append(scan.torn)  # not replayed after the checkpoint: kept aside, never silently lost
        if damaged:
            self._quarantine(damaged)
        if before is not None:
            rows = [(n, r) for n, r in rows if int(r["episode"]) < before]
        fields = scan.fields or list(EPISODE_KEYS)
        persist.atomic_write(self.path, "".join(_format_line(r, fields) for r in [dict(zip(fields, fields))]
                                                + [r for _, r in rows]))

    def _first_write_torn(self) -> None:
        """A crash during the very first append (header and first row in one write): restore both from the side
        file, or move the fragment aside and start the log afresh."""
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        if text:
            try:
                last = persist.read_json(self.last_row_path, "episode log side file")
            except (FileNotFoundError, ValueError):
                last = {}
            fields = list(last)
            whole = _format_line(dict(zip(fields, fields)), fields) + _format_line(last, fields) if fields else ""
            if whole.startswith(text) and "episode" in fields:
                persist.atomic_write(self.path, whole)
                self._fields = fields
                warnings.warn(f"{self.path}:1: torn first write restored from {self.last_row_path}", stacklevel=3)
                return
            self._quarantine([(1, text)])
        self.path.unlink()

    def _repair(self, scan: _Scan) -> dict[str, str] | None:
        """The row of the torn last line, from the side file, if that is the row the line began."""
        line_no, raw = scan.torn
        try:
            last = persist.read_json(self.last_row_path, "episode log side file")
        except (FileNotFoundError, ValueError):
            return None
        row = {k: str(_one_line(last.get(k))) for k in scan.fields}
        have = {r["episode"] for _, r in scan.rows}
        if row.get("episode") in have or not _format_line(row, scan.fields).startswith(raw):
            return None
        warnings.warn(f"{self.path}:{line_no}: torn last row (a crash mid-write) restored from {self.last_row_path}",
                      stacklevel=3)
        return row

    def _quarantine(self, damaged: list[tuple[int, str]]) -> None:
        lines = ", ".join(str(n) for n, _ in damaged)
        with self.quarantine_path.open("a") as f:
            f.writelines(f"{self.path.name}:{n}: {raw}\n" for n, raw in damaged)
        warnings.warn(f"{self.path}: damaged row(s) on line(s) {lines} moved to {self.quarantine_path}; the other "
                      "rows are kept", stacklevel=3)

    def __call__(self, row: dict[str, Any]) -> None:
        new = self._fields is None
        if new:
            self._fields = [*EPISODE_KEYS, *(k for k in row if k not in EPISODE_KEYS)]
        fields = self._fields
        side = json.dumps({k: _one_line(row.get(k, "")) for k in fields}, default=str)
        _write(self.last_row_path, side, os.O_TRUNC)  # first: a torn log line can always be restored from it
        _write(self.path, (_format_line(dict(zip(fields, fields)), fields) if new else "") + _format_line(row, fields),
               os.O_APPEND)
        if self.writer is not None:
            step = int(row["total_rounds"])
            for key, value in row.items():
                if key not in ("episode", "total_rounds") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"episode/{key}", value, step)


def _write(path: Path, text: str, mode: int) -> None:
    """One ``write`` of ``text`` to ``path`` (``os.O_APPEND`` or ``os.O_TRUNC``), no ``fsync``: a row costs about
    0.1 ms, and what a power cut tears the next open repairs or sets aside (the checkpoint is the durable record).
    An ``OSError`` (a full disk) names the file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o666)
        try:
            raw = memoryview(text.encode())
            while raw:  # one write in practice; a short write is continued
                raw = raw[os.write(fd, raw):]
        finally:
            os.close(fd)
    except OSError as err:
        raise persist.os_error_naming(err, path) from err


def _one_line(value: Any) -> Any:
    """A value as it goes into one line of the log: plain Python (NumPy scalars unwrapped), strings without line
    breaks, None as empty."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None:
        return ""
    return " ".join(str(value).splitlines()) if isinstance(value, str) else value


def _format_line(row: dict[str, Any], fields: list[str]) -> str:
    """One CSV line (with its newline) of ``row``'s ``fields``."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_one_line(row.get(k)) for k in fields])
    return buf.getvalue()


@dataclass
class _Scan:
    """An episode log read line by line: header, good rows, damaged lines and a torn last line."""

    fields: list[str]
    rows: list[tuple[int, dict[str, str]]]
    damaged: list[tuple[int, str]]
    torn: tuple[int, str] | None


def _parse(line: str, width: int | None) -> list[str] | None:
    """The values of one CSV line, or None if it does not parse on its own or has the wrong width."""
    try:
        values = next(csv.reader([line], strict=True), None)
    except csv.Error:
        return None
    if values is None or (width is not None and len(values) != width):
        return None
    return values


def _episode_of(raw: str, fields: list[str]) -> int | None:
    """The episode number a (possibly torn) line begins with, if readable."""
    head = raw.split(",", 1)[0] if fields and fields[0] == "episode" else ""
    return int(head) if head.isdigit() and "," in raw else None


def _scan(path: Path) -> _Scan:
    """Read an episode log line by line (also one written by older versions: the same CSV)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    ended = lines[-1] == ""
    if ended:
        lines.pop()
    if not lines:
        return _Scan([], [], [], None)
    if len(lines) == 1 and not ended:  # a crash while the header and the first row were being written
        return _Scan([], [], [], None)
    fields = _parse(lines[0].rstrip("\r"), None)
    if not fields or "episode" not in fields:
        raise persist.CorruptFile(f"episode log {path}:1: not a header of episode columns: {lines[0][:80]!r}")
    rows: list[tuple[int, dict[str, str]]] = []
    damaged: list[tuple[int, str]] = []
    torn = None
    for k, raw in enumerate(lines[1:], start=2):
        raw = raw.rstrip("\r")
        values = _parse(raw, len(fields))
        last = k == len(lines)
        if values is not None and values[fields.index("episode")].isdigit() and (ended or not last):
            rows.append((k, dict(zip(fields, values))))
        elif last and not ended:
            torn = (k, raw)
        elif raw.strip():
            damaged.append((k, raw))
    return _Scan(fields, rows, damaged, torn)


def read_episodes(path: str | Path) -> list[dict[str, float]]:
    """Rows of an ``episodes.csv`` (values as floats). A damaged or torn line is skipped with a warning naming the
    file and the line; it never hides the rows after it."""
    path = Path(path)
    scan = _scan(path)
    bad = [n for n, _ in scan.damaged] + ([scan.torn[0]] if scan.torn else [])
    if bad:
        warnings.warn(f"{path}: skipped damaged or torn row(s) on line(s) {', '.join(map(str, bad))}", stacklevel=2)
    out = []
    for line_no, row in scan.rows:
        try:
            out.append({k: float(v) if v != "" else math.nan for k, v in row.items()})
        except ValueError as err:
            raise persist.CorruptFile(f"episode log {path}:{line_no}: not a number: {err}") from None
    return out
