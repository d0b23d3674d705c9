"""Checkpoint directory -> verified GGUF file, written atomically."""

from __future__ import annotations

import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import gguf

from jina_edge.convert.architectures import ArchitectureConverter, converter_for
from jina_edge.convert.checkpoint import Checkpoint, load_checkpoint
from jina_edge.convert.quantize import (
    OUTPUT_TYPES,
    WRITTEN_DIRECTLY,
    check_output_type,
    quantize_file,
    require_quantizer,
    tensor_data,
)
from jina_edge.convert.verify import Verification, verify_model
from jina_edge.convert.vocab import Vocabulary, read_vocabulary
from jina_edge.errors import ConversionError
from jina_edge.models.modelfile import (
    DIGEST_PLACEHOLDER,
    FILE_DIGEST_KEY,
    seal_file_digest,
)

ProgressCallback = Callable[[str, int, int], None]
"""Called as progress(stage, done, total); stages: "write", "quantize", "verify"."""

# Our own metadata keys, next to llama.cpp's.
KEY_CONVERTER_VERSION = "jina_edge.converter_version"
KEY_SOURCE_SHA256 = "jina_edge.source.sha256"
KEY_SOURCE_REPO = "jina_edge.source.repository"
KEY_SOURCE_REVISION = "jina_edge.source.revision"
KEY_SOURCE_ARCH = "jina_edge.source.architecture"


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion produced."""

    output: Path
    output_type: str
    architecture: str
    source_sha256: str
    size_bytes: int
    verification: Verification | None


def converter_version() -> str:
    """The installed jina-edge version, recorded in every GGUF we write."""
    try:
        return version("jina-edge")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def convert_checkpoint(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    output_type: str = "f16",
    verify: bool = True,
    model_name: str | None = None,
    source_repo: str | None = None,
    source_revision: str | None = None,
    progress: ProgressCallback | None = None,
) -> ConversionReport:
    """Convert a Hugging Face checkpoint directory into a GGUF file.

    The file appears at `output` only once it is complete and, unless
    `verify=False`, has passed verification; an error at any point leaves
    nothing at `output` (an existing file there is kept untouched).

    Args:
        source: the checkpoint directory (config.json, safetensors, tokenizer).
        output: where to write the GGUF.
        output_type: f32, f16, bf16, q8_0, q6_k, q5_k_m, q4_k_m or q4_0.
        verify: compare the result with the numpy reference on probe texts.
        model_name: general.name in the GGUF (default: the directory name).
        source_repo: Hugging Face repository, when known.
        source_revision: commit of that repository, when known.
        progress: called as progress(stage, done, total).

    Raises:
        CheckpointError, UnsupportedModelError: for a bad or unsupported source.
        ConversionError: when writing, quantizing or verification fails.
    """
    output_type = check_output_type(output_type)
    require_quantizer(output_type)
    checkpoint = load_checkpoint(source)
    converter = converter_for(checkpoint)
    converter.check_tensors()
    vocab = read_vocabulary(checkpoint.path, embedding_rows=converter.vocab_rows)
    target = Path(output).expanduser().absolute()
    if target.is_dir():
        raise ConversionError(f"{target} is a directory; give a file name such as model.gguf")
    source_dir = checkpoint.path.resolve()
    if target.resolve().is_relative_to(source_dir):
        # The GGUF would replace, or sit among, the files being read (model.safetensors,
        # config.json): one wrong --out would destroy the original weights.
        raise ConversionError(f"{target} is inside the checkpoint folder {source_dir}; "
                              "write the GGUF somewhere else (e.g. --out model.gguf)")
    workdir = _make_workdir(target)
    try:
        direct = output_type in WRITTEN_DIRECTLY
        written = workdir / f"{output_type if direct else 'f32'}.gguf"
        _write_gguf(
            converter, vocab, written, output_type if direct else "f32",
            name=model_name or checkpoint.path.name,
            repo=source_repo or checkpoint.source_repo,
            revision=source_revision or checkpoint.source_revision,
            checkpoint=checkpoint,
            progress=progress,
        )
        result = written
        if not direct:
            if progress:
                progress("quantize", 0, 1)
            result = workdir / f"{output_type}.gguf"
            quantize_file(written, result, output_type)
            written.unlink()
            if progress:
                progress("quantize", 1, 1)
        seal_file_digest(result)
        verification = None
        if verify:
            verification = verify_model(result, checkpoint.path, output_type, progress=progress)
            if verification.status == "fail":
                raise ConversionError(
                    f"verification failed, no file written:\n{verification.table()}"
                )
        with open(result, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(result, target)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ConversionError(
                f"the disk holding {target.parent} is full; free some space and convert "
                "again (a base-size model needs about 1 GB while converting)"
            ) from exc
        raise ConversionError(f"could not write {target}: {exc}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ConversionReport(
        output=target,
        output_type=output_type,
        architecture=checkpoint.architecture,
        source_sha256=checkpoint.sha256(),
        size_bytes=target.stat().st_size,
        verification=verification,
    )


def _make_workdir(target: Path) -> Path:
    """A temporary folder next to `target`, after removing those of dead conversions.

    Its name carries our process id: a conversion killed outright (a llama.cpp
    abort in verification, kill -9) cannot clean up, so the next one does.
    """
    prefix = f".{target.name}."
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob(f"{glob.escape(prefix)}*"):
            pid = old.name[len(prefix):].partition(".")[0]
            if old.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=target.parent))
    except OSError as exc:
        raise ConversionError(f"cannot write in {target.parent}: {exc.strerror or exc}; "
                              "choose another --out") from exc


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _write_gguf(
    converter: ArchitectureConverter,
    vocab: Vocabulary,
    path: Path,
    output_type: str,
    *,
    name: str,
    repo: str | None,
    revision: str | None,
    checkpoint: Checkpoint,
    progress: ProgressCallback | None,
) -> None:
    """Write a GGUF of a type gguf-py writes (quantize.WRITTEN_DIRECTLY)."""
    writer = gguf.GGUFWriter(path, converter.family.gguf_architecture)
    try:
        writer.add_name(name)
        writer.add_file_type(OUTPUT_TYPES[output_type])
        if output_type != "f32":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.add_string(KEY_CONVERTER_VERSION, converter_version())
        writer.add_string(KEY_SOURCE_ARCH, checkpoint.architecture)
        writer.add_string(KEY_SOURCE_SHA256, checkpoint.sha256())
        writer.add_string(FILE_DIGEST_KEY, DIGEST_PLACEHOLDER)
        if repo:
            writer.add_string(KEY_SOURCE_REPO, repo)
            writer.add_source_repo_url(f"https://huggingface.co/{repo}")
        if revision:
            writer.add_string(KEY_SOURCE_REVISION, revision)
        converter.write_hparams(writer)
        converter.write_vocab(writer, vocab)
        total = converter.tensor_count
        for done, (tensor_name, data) in enumerate(converter.tensors()):
            stored, ggml_type = tensor_data(tensor_name, data, output_type)
            writer.add_tensor(tensor_name, stored, raw_dtype=ggml_type)
            if progress:
                progress("write", done + 1, total)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
