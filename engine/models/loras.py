"""LoRAs: what ``--lora PATH_OR_REPO[:WEIGHT]`` and the ``loras`` parameter name, found and checked
before any model is loaded.

A LoRA source is
- a local ``.safetensors`` file (relative to the working directory, or to the shot list in a shot list);
- ``org/name/path/in/repo.safetensors``: one file of a Hugging Face repository, taken from the hub
  cache (``--download`` fetches it first);
- ``org/name``: a repository holding exactly one ``.safetensors`` file (in the hub cache).

Everything here reads only the safetensors header (a JSON table of names, dtypes and shapes; no
tensor is read), so a file that does not fit the model is one line naming it, before torch is
imported: not safetensors, not a LoRA, not a Wan LoRA, blocks the model does not have, matrices
whose sizes are not the model's (a LoRA for the 14B on the 1.3B), down and up matrices of
different ranks. Which key formats load: ``engine.models.lora_keys``.

Pure: no torch (the add-on checks LoRA files with it). The parameter's form (``PATH[:WEIGHT]``, weights) is
``engine.formats.lora_entries``'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError, ParamsError
from ..formats.lora_entries import DEFAULT_WEIGHT
from .lora_keys import LoraKeyError, lora_format

#: A safetensors header larger than this is not a safetensors file (the format caps it at 100 MB).
_MAX_HEADER = 100_000_000


class LoraError(EngineError):
    """A LoRA that cannot be used with this model; the message names the file."""

    kind = "lora"


# ----------------------------------------------------------------------------------- the file


def read_header(path: Path) -> dict:
    """The safetensors header: ``{name: {"dtype", "shape", "data_offsets"}}`` (``__metadata__`` dropped).
    Raises ``LoraError`` for a file that is not safetensors."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise LoraError(f"LoRA {path} is not a .safetensors file (too short); LoRAs load from .safetensors only")
            (length,) = struct.unpack("<Q", prefix)
            if not 2 <= length <= _MAX_HEADER:
                raise LoraError(f"LoRA {path} is not a .safetensors file; LoRAs load from .safetensors only (never pickled .pt/.ckpt)")
            header = json.loads(handle.read(length).decode("utf-8"))
    except OSError as error:
        raise LoraError(f"LoRA {path} cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LoraError(f"LoRA {path} is not a .safetensors file (its header is not JSON); LoRAs load from .safetensors only") from None
    if not isinstance(header, dict):
        raise LoraError(f"LoRA {path} is not a .safetensors file")
    header.pop("__metadata__", None)
    return header


#: A Wan block right under the format's prefix (not e.g. Stable Diffusion's ``down_blocks_0_``).
_BLOCK = re.compile(r"^(?:diffusion_model\.|transformer\.|base_model\.model\.|lora_unet_)?(vace_blocks|blocks)[._](\d+)[._]")
#: Module (original, diffusers and musubi spellings) -> (in features, out features) as names of
#: transformer dimensions: ``dim`` (heads x head size) or ``ffn``.
_MODULE_DIMS = (
    (re.compile(r"(self_attn|cross_attn)[._][qkvo]$|attn[12][._](to_q|to_k|to_v|to_out[._]0)$"), ("dim", "dim")),
    (re.compile(r"ffn[._]0$|ffn[._]net[._]0[._]proj$"), ("dim", "ffn")),
    (re.compile(r"ffn[._]2$|ffn[._]net[._]2$"), ("ffn", "dim")),
    (re.compile(r"(before_proj|after_proj|proj_in|proj_out)$"), ("dim", "dim")),
)
_MATRIX = re.compile(r"^(.*)\.(lora_down|lora_up|lora_A|lora_B)\.weight$")


def check_fits(path: Path, header: dict, transformer_config: dict | None) -> str:
    """The file's key format (``lora_keys.FORMATS``), after checking from the header alone that it
    is a Wan LoRA whose blocks and matrix sizes fit ``transformer_config`` (the model's
    ``transformer/config.json``; ``None``: sizes not checked). Raises ``LoraError`` naming the file."""
    try:
        fmt = lora_format(header)
    except LoraKeyError as error:
        raise LoraError(f"LoRA {path} cannot be loaded: {error}") from None
    blocks = [(m[1], int(m[2])) for key in header if (m := _BLOCK.search(key))]
    if not blocks:
        raise LoraError(f"LoRA {path} is not a Wan LoRA (no transformer blocks in its keys, e.g. {next(iter(header))!r}); "
                        "use a LoRA trained for Wan2.1")
    if transformer_config is None:
        return fmt
    dims = {"dim": transformer_config.get("num_attention_heads", 0) * transformer_config.get("attention_head_dim", 0),
            "ffn": transformer_config.get("ffn_dim")}
    counts = {"blocks": transformer_config.get("num_layers"), "vace_blocks": len(transformer_config.get("vace_layers") or [])}
    for kind, index in blocks:
        if counts[kind] is not None and index >= counts[kind]:
            raise LoraError(f"LoRA {path} was made for another model: it changes {kind.replace('_', ' ')} {index}, "
                            f"and this model has {counts[kind]}; use a LoRA trained for this model")
    pairs: dict[str, dict] = {}
    for key, entry in header.items():
        match = _MATRIX.match(key)
        if match and isinstance(entry, dict) and len(entry.get("shape", ())) == 2:
            pairs.setdefault(match[1], {})["down" if match[2] in ("lora_down", "lora_A") else "up"] = entry["shape"]
    for module, sides in sorted(pairs.items()):
        if "down" in sides and "up" in sides and sides["down"][0] != sides["up"][1]:
            raise LoraError(f"LoRA {path} is damaged: {module} has a down matrix of rank {sides['down'][0]} "
                            f"and an up matrix of rank {sides['up'][1]}")
        expected = next((names for pattern, names in _MODULE_DIMS if pattern.search(module)), None)
        if expected is None or not _BLOCK.search(module + "."):
            continue
        fan_in = sides["down"][1] if "down" in sides else None
        fan_out = sides["up"][0] if "up" in sides else None
        want_in, want_out = dims[expected[0]], dims[expected[1]]
        if (fan_in is not None and want_in and fan_in != want_in) or (fan_out is not None and want_out and fan_out != want_out):
            raise LoraError(f"LoRA {path} was made for another model: {module} maps {fan_in} to {fan_out} features, "
                            f"this model's {want_in} to {want_out}; use a LoRA trained for this model (e.g. 1.3B vs 14B)")
    return fmt


_HASHES: dict[tuple, str] = {}


def sha256(path: Path) -> str:
    """The file's sha256 (cached per path, size and modification time: a warm worker hashes once)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


# -------------------------------------------------------------------------------- resolving


@dataclass(frozen=True)
class ResolvedLora:
    """A LoRA file found and checked, with the weight this take uses."""

    source: str
    """What was asked for (a path, ``org/name/file.safetensors`` or ``org/name``)."""
    file: Path
    sha256: str
    weight: float
    format: str
    """``diffusers``, ``original`` or ``musubi`` (``engine.models.lora_keys``)."""
    role: str = "style"
    """``style`` (asked for with ``--lora``) or ``draft`` (the step-distillation LoRA of ``quality draft``)."""
    repo_id: str | None = None

    def describe(self) -> dict:
        """What take.json records for it."""
        return {"file": str(self.file), "sha256": self.sha256, "weight": self.weight, "source": self.source,
                "format": self.format, "role": self.role, "repo_id": self.repo_id}


def locate(source: str, download: bool = False, base: Path | None = None) -> tuple[Path, str | None]:
    """``(file, repo_id)`` for a LoRA source (see the module docstring); raises ``LoraError``."""
    local = Path(source).expanduser()
    if not local.is_absolute() and base is not None and (base / local).exists():
        local = base / local
    if local.is_file():
        return _absolute(local), None
    if local.is_dir():
        files = sorted(local.glob("*.safetensors"))
        if len(files) != 1:
            raise LoraError(f"LoRA folder {source} holds {len(files)} .safetensors files; name the file itself")
        return _absolute(files[0]), None
    repo_id, filename = _hub_parts(source)
    if repo_id is None:
        raise LoraError(f"LoRA {source} does not exist: give a .safetensors file, org/name/file.safetensors or a repo id")
    return _from_hub(source, repo_id, filename, download), repo_id


def _hub_parts(source: str) -> tuple[str | None, str | None]:
    if source.startswith((".", "/", "~")) or "\\" in source or re.match(r"^[A-Za-z]:", source):
        return None, None
    parts = source.split("/")
    if len(parts) < 2 or not all(parts):
        return None, None
    repo_id = "/".join(parts[:2])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*", repo_id):
        return None, None
    filename = "/".join(parts[2:]) or None
    if filename is not None and not filename.endswith(".safetensors"):
        return None, None
    return repo_id, filename


def cached_file(hub_cache: Path, repo_id: str, filename: str | None) -> Path | None:
    """A file of ``repo_id`` already in the hub cache, without the network (``installed.cached_file``)."""
    from .installed import cached_file as in_cache

    return in_cache(hub_cache, repo_id, filename)

def _from_hub(source: str, repo_id: str, filename: str | None, download: bool) -> Path:
    from .locations import hub_cache_dir

    cache = hub_cache_dir()
    found = cached_file(cache, repo_id, filename)
    if found is not None:
        return _absolute(found)
    if not download:
        raise LoraError(f"LoRA {source} is not downloaded: run again with --download (it fetches it into {cache}), "
                        "or give a local .safetensors file")
    from .download import download_file

    return _absolute(download_file(repo_id, filename, cache))


def _absolute(path: Path) -> Path:
    """Absolute and normalised, but symbolic links kept: a hub snapshot's file links to a blob
    named by its hash, and the file's own name is what people recognise (and what says .safetensors)."""
    return Path(os.path.abspath(path))


def transformer_config(model_path: Path) -> dict | None:
    """The model's ``transformer/config.json`` (``None`` when it has none: sizes are then checked at load)."""
    try:
        return json.loads((Path(model_path) / "transformer" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_file(source: str) -> None:
    """The checks that need neither the model nor a hash: the file is there (or in the hub cache),
    is safetensors and a Wan LoRA (the add-on runs them before it renders anything)."""
    file, _ = locate(source)
    if not file.name.endswith(".safetensors"):
        raise LoraError(f"LoRA {file} is not a .safetensors file; LoRAs load from .safetensors only (never pickled .pt/.ckpt)")
    check_fits(file, read_header(file), None)


def resolve_lora(source: str, weight: float, model_path: Path | None, download: bool = False,
                 role: str = "style", base: Path | None = None) -> ResolvedLora:
    """Find, check and hash one LoRA (``LoraError`` naming it when it does not fit the model)."""
    file, repo_id = locate(source, download, base)
    if not file.name.endswith(".safetensors"):
        raise LoraError(f"LoRA {file} is not a .safetensors file; LoRAs load from .safetensors only (never pickled .pt/.ckpt)")
    fmt = check_fits(file, read_header(file), transformer_config(model_path) if model_path else None)
    return ResolvedLora(source=source, file=file, sha256=sha256(file), weight=float(weight), format=fmt, role=role,
                        repo_id=repo_id)


def resolve_loras(params, model, spec) -> list[ResolvedLora]:
    """The take's LoRAs (``params.loras``), checked against the model; one line for a backend
    without LoRAs. The draft LoRA is added by ``engine.speed.draft``."""
    loras = list(params.loras or ())
    if loras and not spec.loras:
        raise ParamsError(f"backend {spec.name} does not load LoRAs; remove them or use a Wan VACE model")
    resolved = [resolve_lora(entry["path"], entry.get("weight", DEFAULT_WEIGHT), model.path, params.download)
                for entry in loras]
    files = {}
    for lora in resolved:
        if lora.sha256 in files:
            raise ParamsError(f"LoRAs {files[lora.sha256]} and {lora.source} are the same file; list it once")
        files[lora.sha256] = lora.source
    return resolved
