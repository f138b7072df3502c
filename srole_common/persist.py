"""Persistence in one place: one atomic writer, and loaders that never run code from the file they read.

Every file a run directory, a checkpoint or the ``srole reproduce`` cache writes goes through
``atomic_write`` (a temporary file in the same folder, ``fsync``, then ``os.replace``): a reader sees the
old file or the new one, never half of one, and a crash leaves at most a stray ``.tmp-*`` file.

What is read back, and how (see ``SECURITY.md``):

- JSON (``read_json``): configs, checkpoint state, cache entries. Plain data; a file that does not parse
  or is not an object raises ``CorruptFile`` naming it.
- NumPy arrays (``load_arrays``): ``np.load(allow_pickle=False)``, so an ``.npz`` holding objects is refused.
- Tensors (``load_tensors``): ``torch.load(weights_only=True)``: only tensors and plain containers/numbers.
- Stable-Baselines3 zips (``sb3_custom_objects``): SB3 stores some attributes (spaces, schedules, buffer
  classes) cloudpickled in the zip's ``data`` JSON. They are unpickled here by ``RestrictedUnpickler``, which
  only builds the classes in ``SB3_ALLOWED``, and handed to ``.load(custom_objects=...)``, so SB3 unpickles
  nothing itself (its ``.pth`` members it reads with ``weights_only=True``).

Any loader's failure is a ``CorruptFile`` (a ``ValueError``) that names the file and says what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any


class CorruptFile(ValueError):
    """A file that is not what it should be (does not parse, wrong kind, or holds code)."""


def _process_umask() -> int:
    """The process's umask (read once: ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``.

    The file gets the mode a plain ``open(path, "w")`` would give it (the old file's, else 0o666 less the
    umask), not ``mkstemp``'s private 0o600."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    except OSError as err:
        raise os_error_naming(err, path) from err
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise os_error_naming(err, path) from err
        raise
    _fsync_dir(path.parent)
    return path


def os_error_naming(err: OSError, path: str | Path) -> OSError:
    """``err`` again (same class and errno, e.g. ENOSPC) with a message naming the file being written: a full disk
    says which file it could not write instead of a bare ``[Errno 28] No space left on device``."""
    if str(path) in str(err):
        return err
    reason = err.strerror or str(err) or type(err).__name__
    named = type(err)(err.errno, f"cannot write {str(path)!r}: {reason}") if err.errno else \
        type(err)(f"cannot write {str(path)!r}: {reason}")
    return named


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the rename) where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value: Any) -> Any:
    """JSON form of NumPy scalars, sets/tuples and paths."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON, atomically."""
    return atomic_write(path, json.dumps(data, indent=indent, default=_json_default) + "\n")


def write_rows(path: str | Path, fieldnames: Any, rows: Any, extrasaction: str = "raise") -> Path:
    """Write dict rows as CSV with a header (``csv.DictWriter`` semantics), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), extrasaction=extrasaction)
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, buf.getvalue())


def write_frame(path: str | Path, frame: Any, index: bool = False) -> Path:
    """Write a pandas ``DataFrame`` as CSV, atomically (a table a run reports is never half written)."""
    return atomic_write(path, frame.to_csv(index=index))


def save_figure(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """Render a Matplotlib figure in memory, then write it atomically (the format from the file's suffix)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **savefig_kwargs)
    return atomic_write(path, buf.getvalue())


def read_json(path: str | Path, what: str = "JSON file", kind: type = dict) -> Any:
    """A JSON value of type ``kind`` (an object by default) from ``path``; ``FileNotFoundError`` or
    ``CorruptFile`` naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist") from None
    except UnicodeDecodeError as err:
        raise CorruptFile(f"{what} {str(path)!r} is corrupt: not UTF-8 text (byte {err.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFile(f"{what} {str(path)!r} is corrupt: {err.msg} (line {err.lineno} col {err.colno})") from None
    if not isinstance(data, kind):
        expected = "a JSON object" if kind is dict else f"a JSON {kind.__name__}"
        raise CorruptFile(f"{what} {str(path)!r} is corrupt: expected {expected}, got {type(data).__name__}")
    return data


def save_arrays(path: str | Path, **arrays: Any) -> Path:
    """Write NumPy arrays as an uncompressed ``.npz``, atomically (no object arrays)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write(path, buf.getvalue())


def load_arrays(path: str | Path, what: str = "array file") -> dict[str, Any]:
    """The arrays of an ``.npz`` (``allow_pickle=False``); ``CorruptFile`` naming the file otherwise."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise CorruptFile(f"{what} {str(path)!r} is not an .npz archive")
            return {k: data[k] for k in data.files}
    except CorruptFile:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CorruptFile(f"{what} {str(path)!r} is corrupt or holds objects (refused): {err}") from None


def save_tensors(path: str | Path, obj: dict[str, Any]) -> Path:
    """``torch.save`` of tensors and plain containers/numbers, written atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write(path, buf.getvalue())


def load_tensors(path: str | Path, device: str = "cpu", what: str = "checkpoint") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a dict; ``CorruptFile`` naming the file if it is not one."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - on arbitrary bytes the weights-only unpickler can raise any error
        # (IndexError from its stack on b"s.", struct errors, ...): every one means "not a checkpoint we can read"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CorruptFile(f"{what} {str(path)!r} is corrupt or not a checkpoint of this version "
                          f"(only tensors and plain data are loaded): {first}") from None
    if not isinstance(data, dict):
        raise CorruptFile(f"{what} {str(path)!r} is not a checkpoint: expected a dict, got {type(data).__name__}")
    return data


def require_keys(data: dict[str, Any], keys: tuple[str, ...], path: str | Path, what: str = "checkpoint") -> None:
    """``CorruptFile`` naming the file and the missing keys of ``data``, if any."""
    missing = [k for k in keys if k not in data]
    if missing:
        raise CorruptFile(f"{what} {str(path)!r} is not a checkpoint of this version: it lacks {missing}")


# ---------------------------------------------------------------------- Stable-Baselines3 zips
SB3_ALLOWED: frozenset[tuple[str, str]] = frozenset({
    ("collections", "deque"),
    ("gymnasium.spaces.box", "Box"),
    ("gymnasium.spaces.discrete", "Discrete"),
    ("numpy", "dtype"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("stable_baselines3.common.utils", "FloatSchedule"),
    ("stable_baselines3.common.utils", "ConstantSchedule"),
    ("stable_baselines3.common.utils", "LinearSchedule"),
    ("stable_baselines3.common.type_aliases", "TrainFreq"),
    ("stable_baselines3.common.type_aliases", "TrainFrequencyUnit"),
    ("stable_baselines3.common.buffers", "RolloutBuffer"),
    ("stable_baselines3.common.buffers", "ReplayBuffer"),
    ("stable_baselines3.common.policies", "ActorCriticPolicy"),
    ("stable_baselines3.dqn.policies", "DQNPolicy"),
    ("sb3_contrib.common.maskable.buffers", "MaskableRolloutBuffer"),
    ("sb3_contrib.common.maskable.policies", "MaskableActorCriticPolicy"),
    ("agents.learners.round_discount", "RoundDiscountRolloutBuffer"),
    ("agents.learners.round_discount", "RoundDiscountMaskableRolloutBuffer"),
    ("torch.nn.modules.activation", "ReLU"),
    ("torch.nn.modules.activation", "Tanh"),
})
"""The only globals an SB3 zip of ours refers to (spaces, schedules, buffer and policy classes)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only the classes in ``allowed``; anything else is refused, never imported."""

    def __init__(self, file: Any, allowed: frozenset[tuple[str, str]], source: str):
        super().__init__(file)
        self.allowed = allowed
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global ``module.name``; ``CorruptFile`` for any other."""
        if (module, name) not in self.allowed:
            raise CorruptFile(f"{self.source} refers to {module}.{name}, which is not allowed in a model file "
                              "(it could run code); refused")
        return super().find_class(module, name)


def restricted_loads(raw: bytes, source: str, allowed: frozenset[tuple[str, str]] = SB3_ALLOWED) -> Any:
    """Unpickle ``raw`` building only ``allowed`` globals; ``CorruptFile`` naming ``source`` otherwise."""
    try:
        return RestrictedUnpickler(io.BytesIO(raw), allowed, source).load()
    except CorruptFile:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of a truncated/garbled pickle is a corrupt file
        raise CorruptFile(f"{source} is corrupt: {type(err).__name__}: {err}") from None


def sb3_custom_objects(path: str | Path) -> dict[str, Any]:
    """Every cloudpickled attribute of the SB3 zip at ``path``, unpickled with ``SB3_ALLOWED`` only.

    Pass the result as ``custom_objects`` to SB3's ``.load``: SB3 then takes these objects instead of
    unpickling the entries itself.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            if "data" not in archive.namelist():
                raise CorruptFile(f"model file {str(path)!r} is not a Stable-Baselines3 model: no 'data' member")
            data = json.loads(archive.read("data").decode("utf-8"))
    except CorruptFile:
        raise
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError) as err:
        raise CorruptFile(f"model file {str(path)!r} is corrupt or not a Stable-Baselines3 model: {err}") from None
    if not isinstance(data, dict):
        raise CorruptFile(f"model file {str(path)!r} is not a Stable-Baselines3 model: 'data' is not an object")
    objects: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and ":serialized:" in value:
            try:
                raw = base64.b64decode(str(value[":serialized:"]).encode(), validate=True)
            except (binascii.Error, ValueError) as err:
                raise CorruptFile(f"model file {str(path)!r}: attribute {key!r} is corrupt: {err}") from None
            objects[key] = restricted_loads(raw, f"model file {str(path)!r} (attribute {key!r})")
    return objects


def sb3_load(cls: Any, path: str | Path, **kwargs: Any) -> Any:
    """``cls.load(path, ...)`` (an SB3 algorithm class) with every pickled attribute checked first."""
    objects = sb3_custom_objects(path)
    try:
        return cls.load(path, custom_objects=objects, **kwargs)
    except (ValueError, KeyError, RuntimeError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as err:
        raise CorruptFile(f"model file {str(path)!r} is corrupt or not a {cls.__name__} model: {err}") from None


def sb3_load_replay_buffer(model: Any, path: str | Path) -> None:
    """``model.load_replay_buffer(path)`` through ``RestrictedUnpickler`` (SB3's own call unpickles freely)."""
    from stable_baselines3.common.buffers import ReplayBuffer

    path = Path(path)
    allowed = SB3_ALLOWED | {("torch", "device")}
    buffer = restricted_loads(path.read_bytes(), f"replay buffer {str(path)!r}", allowed)
    if not isinstance(buffer, ReplayBuffer):
        raise CorruptFile(f"replay buffer {str(path)!r} is not a ReplayBuffer (got {type(buffer).__name__})")
    model.replay_buffer = buffer
    model.replay_buffer.device = model.device



# ---------------------------------------------------------------------- learner checkpoints
def save_checkpoint(tensor_path: str | Path, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    """A learner's checkpoint: ``tensors`` (state dicts) to ``tensor_path``, ``meta`` (plain data) beside it as JSON."""
    tensor_path = Path(tensor_path)
    save_tensors(tensor_path, tensors)
    write_json(tensor_path.with_suffix(".json"), meta)


def load_checkpoint(tensor_path: str | Path, device: str, tensor_keys: tuple[str, ...],
                    meta_keys: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, meta) written by ``save_checkpoint``, loaded safely; ``CorruptFile`` naming the file if not one."""
    tensor_path = Path(tensor_path)
    meta_path = tensor_path.with_suffix(".json")
    if tensor_path.is_file() and not meta_path.is_file():
        raise CorruptFile(f"checkpoint {str(tensor_path)!r} has no {meta_path.name}: it was written by an older "
                          "version (which pickled its metadata) or is not a checkpoint; train it again")
    meta = read_json(meta_path, "checkpoint metadata")
    require_keys(meta, meta_keys, meta_path)
    tensors = load_tensors(tensor_path, device)
    require_keys(tensors, tensor_keys, tensor_path)
    return tensors, meta


def restore(path: str | Path, what: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` (e.g. ``load_state_dict``); a failure on the file's contents becomes ``CorruptFile`` naming it."""
    try:
        return fn(*args)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CorruptFile(f"checkpoint {str(path)!r}: {what} does not fit this model: {first}") from None


def check_output_path(path: str | Path, what: str) -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, under a file, in a folder that
    cannot be created, or where no file can be created (``ValueError`` naming ``what``, e.g. the flag, and the path).
    Missing folders are left for the writer to create (it makes parents); this creates nothing that stays."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; give a file path")
    made = [p for p in (target.parent, *target.parent.parents) if not p.exists()]  # deepest first
    try:
        for folder in reversed(made):
            folder.mkdir()
    except OSError as err:
        _remove_folders(made)
        raise ValueError(f"{what} {str(path)!r}: its folder {str(target.parent)!r} cannot be created: "
                         f"{err.strerror or err}") from None
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as err:
        _remove_folders(made)
        raise ValueError(f"{what} {str(path)!r} cannot be written: {err.strerror or err}") from None
    if not existed:
        target.unlink(missing_ok=True)
    _remove_folders(made)


def _remove_folders(folders: list[Path]) -> None:
    """Remove the folders ``check_output_path`` made (deepest first), leaving any that are not empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass
