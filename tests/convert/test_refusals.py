"""Every checkpoint the converter must refuse, with a message that says why."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from jina_edge.convert import convert_checkpoint, verify
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
from jina_edge.errors import (
    CheckpointError,
    ConversionError,
    JinaEdgeError,
    UnsupportedModelError,
)


@pytest.fixture
def checkpoint(tmp_path: Path, jina_tiny: Path) -> Path:
    """A private copy of the tiny JinaBERT checkpoint to damage."""
    return Path(shutil.copytree(jina_tiny, tmp_path / "ck"))


def _edit_config(checkpoint: Path, **changes: object) -> None:
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def _edit_tensors(checkpoint: Path, edit: object) -> None:
    path = checkpoint / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)  # type: ignore[operator]
    save_file(tensors, str(path))


def _refused(checkpoint: Path, out: Path, error: type[JinaEdgeError], match: str,
             **kwargs: object) -> None:
    with pytest.raises(error, match=match):
        convert_checkpoint(checkpoint, out, output_type="f32", **kwargs)  # type: ignore[arg-type]
    assert not out.exists()
    assert [p for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_missing_directory(tmp_path: Path) -> None:
    _refused(tmp_path / "nope", tmp_path / "m.gguf", CheckpointError, "not a directory")


def test_missing_config(checkpoint: Path, tmp_path: Path) -> None:
    (checkpoint / "config.json").unlink()
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "config.json")


def test_missing_weights(checkpoint: Path, tmp_path: Path) -> None:
    (checkpoint / "model.safetensors").unlink()
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "weights are missing")


def test_pytorch_bin_only(checkpoint: Path, tmp_path: Path) -> None:
    (checkpoint / "model.safetensors").rename(checkpoint / "pytorch_model.bin")
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "safetensors")


def test_truncated_safetensors(checkpoint: Path, tmp_path: Path) -> None:
    path = checkpoint / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "truncated")


def test_garbage_safetensors(checkpoint: Path, tmp_path: Path) -> None:
    (checkpoint / "model.safetensors").write_bytes(b"\x00" * 7)
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "safetensors")
    (checkpoint / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}xx")
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "safetensors")


def test_missing_shard(tmp_path: Path) -> None:
    sharded = write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], shards=2)
    next(sharded.glob("model-00002-*.safetensors")).unlink()
    _refused(sharded, tmp_path / "m.gguf", CheckpointError, "incomplete")


def test_missing_tensor(checkpoint: Path, tmp_path: Path) -> None:
    _edit_tensors(checkpoint, lambda t: t.pop("encoder.layer.1.mlp.wo.weight"))
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "mlp.wo.weight")


def test_misshapen_tensor(checkpoint: Path, tmp_path: Path) -> None:
    def cut(t: dict[str, np.ndarray]) -> None:
        t["encoder.layer.0.mlp.gated_layers.weight"] = t[
            "encoder.layer.0.mlp.gated_layers.weight"][:64]

    _edit_tensors(checkpoint, cut)
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "shape")


def test_unknown_tensor(checkpoint: Path, tmp_path: Path) -> None:
    _edit_tensors(checkpoint, lambda t: t.update({"encoder.layer.0.extra.weight":
                                                   np.zeros(4, np.float32)}))
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "extra.weight")


def test_weights_beyond_the_float16_range(checkpoint: Path, tmp_path: Path) -> None:
    def inflate(t: dict[str, np.ndarray]) -> None:
        name = next(n for n in t if "gated_layers" in n)
        t[name][:] = 1e38  # overflowed f16 and q8_0 scales: "check free disk space"

    _edit_tensors(checkpoint, inflate)
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "values up to 1e.38")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_weights(checkpoint: Path, tmp_path: Path, bad: float) -> None:
    def poison(t: dict[str, np.ndarray]) -> None:
        t["encoder.layer.1.attention.self.key.weight"][3, 4] = bad

    _edit_tensors(checkpoint, poison)
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "NaN or Inf")


def test_vocabulary_larger_than_embedding_matrix(checkpoint: Path, tmp_path: Path) -> None:
    with open(checkpoint / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("".join(f"extra{i}\n" for i in range(10)))
    (checkpoint / "tokenizer.json").unlink()
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "another model")


def test_vocabulary_much_smaller_than_embedding_matrix(checkpoint: Path, tmp_path: Path) -> None:
    lines = (checkpoint / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (checkpoint / "vocab.txt").write_text("\n".join(lines[:20000]) + "\n", encoding="utf-8")
    (checkpoint / "tokenizer.json").unlink()
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "another model")


def test_config_that_disagrees_with_weights(checkpoint: Path, tmp_path: Path) -> None:
    _edit_config(checkpoint, intermediate_size=128)
    _refused(checkpoint, tmp_path / "m.gguf", CheckpointError, "shape")


def test_unsupported_architecture_lists_the_supported_ones(checkpoint: Path,
                                                          tmp_path: Path) -> None:
    _edit_config(checkpoint, architectures=["LlamaForCausalLM"])
    _refused(checkpoint, tmp_path / "m.gguf", UnsupportedModelError,
             "LlamaForCausalLM.*JinaBertForMaskedLM")


def test_unigram_tokenizer_is_refused_naming_what_was_found(checkpoint: Path,
                                                             tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models

    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0)], 0))
    unigram.save(str(checkpoint / "tokenizer.json"))
    (checkpoint / "vocab.txt").unlink()
    _refused(checkpoint, tmp_path / "m.gguf", UnsupportedModelError, "Unigram model")


def test_bpe_with_another_pre_tokenizer_is_refused(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], variant="es")
    _edit_tokenizer_json(checkpoint, lambda t: t.update(
        pre_tokenizer={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                       "split": True}))
    _refused(checkpoint, tmp_path / "m.gguf", UnsupportedModelError,
             "BPE model and pre-tokenizer Metaspace")


def test_a_post_processor_without_cls_and_sep_is_refused(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], variant="es")
    _edit_tokenizer_json(checkpoint, lambda t: t.update(post_processor=None))
    _refused(checkpoint, tmp_path / "m.gguf", UnsupportedModelError, "in 0 special tokens")


def test_a_bpe_checkpoint_without_tokenizer_json_says_how_to_make_one(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], variant="code")
    (checkpoint / "tokenizer.json").unlink()
    _refused(checkpoint, tmp_path / "m.gguf", UnsupportedModelError,
             "RobertaTokenizer without tokenizer.json.*save_pretrained")


def test_unknown_output_type(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="q4_k_m"):
        convert_checkpoint(checkpoint, tmp_path / "m.gguf", output_type="q3_weird")


def test_failed_verification_leaves_no_file_and_keeps_an_old_one(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.gguf"
    out.write_bytes(b"previous model")
    real_reference = verify.ReferenceModel.from_checkpoint(checkpoint)

    class Skewed:
        is_reranker = False
        max_tokens = real_reference.max_tokens
        tokenize = staticmethod(real_reference.tokenize)

        @staticmethod
        def token_states(ids: list[int]) -> np.ndarray:
            states = real_reference.token_states(ids)
            return states + np.linspace(0, 1, states.shape[1])  # a wrong model

    monkeypatch.setattr(verify.ReferenceModel, "from_checkpoint", lambda path: Skewed())
    with pytest.raises(ConversionError, match="verification failed"):
        convert_checkpoint(checkpoint, out, output_type="f32")
    assert out.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "m.gguf"]


def test_output_path_that_is_a_directory(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="directory"):
        convert_checkpoint(checkpoint, tmp_path, output_type="f32")


def test_full_disk_is_reported_and_leaves_nothing(checkpoint: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import gguf

    def no_space(self: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", no_space)
    out = tmp_path / "out" / "m.gguf"
    with pytest.raises(ConversionError, match="disk .* is full"):
        convert_checkpoint(checkpoint, out, output_type="f32")
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "sub/model.gguf"])
def test_output_inside_the_checkpoint_is_refused_and_the_source_kept(
        checkpoint: Path, name: str) -> None:
    before = {p.name: p.read_bytes() for p in checkpoint.iterdir() if p.is_file()}
    with pytest.raises(ConversionError, match="inside the checkpoint folder"):
        convert_checkpoint(checkpoint, checkpoint / name, output_type="f32")
    assert {p.name: p.read_bytes() for p in checkpoint.iterdir() if p.is_file()} == before
    assert not (checkpoint / "sub").exists()


def _edit_safetensors_header(checkpoint: Path, edit: object) -> None:
    """Rewrite the JSON header of model.safetensors, keeping the data bytes."""
    path = checkpoint / "model.safetensors"
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = edit(json.loads(raw[8:8 + size]))  # type: ignore[operator]
    encoded = json.dumps(header).encode()
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + raw[8 + size:])


def _first_tensor(header: dict[str, dict[str, object]]) -> dict[str, object]:
    return next(v for k, v in header.items() if k != "__metadata__")


def _edit_tokenizer_json(checkpoint: Path, edit: object) -> None:
    path = checkpoint / "tokenizer.json"
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


def _repeat_vocab_line(checkpoint: Path) -> None:
    path = checkpoint / "vocab.txt"
    lines = path.read_text().split("\n")
    path.write_text("\n".join(lines[:2001] + [lines[2000]] + lines[2001:]))


# Hostile checkpoints from the hostile-input campaign (report 2.1, 2.3): each one
# crashed llama.cpp, ran out of memory or raised a Python exception before.
HOSTILE_CHECKPOINTS = {
    "header a list": (lambda ck: _edit_safetensors_header(ck, lambda h: [1, 2]),
                      "header is not an object"),
    "no data_offsets": (lambda ck: _edit_safetensors_header(
        ck, lambda h: (_first_tensor(h).pop("data_offsets"), h)[1]), "no valid shape"),
    "string offsets": (lambda ck: _edit_safetensors_header(
        ck, lambda h: (_first_tensor(h).update(data_offsets=["a", "b"]), h)[1]),
        "no valid shape"),
    "integer weights": (lambda ck: _edit_safetensors_header(
        ck, lambda h: (_first_tensor(h).update(dtype="I32"), h)[1]), "stored as 'I32'"),
    "config nested deeply": (lambda ck: (ck / "config.json").write_text("[" * 100_000),
                             "nested too deeply"),
    "2**40 positions": (lambda ck: _edit_config(ck, max_position_embeddings=2**40),
                        "at most 1048576"),
    "4 positions": (lambda ck: _edit_config(ck, max_position_embeddings=4), "fewer than 8"),
    "10**9 layers": (lambda ck: _edit_config(ck, num_hidden_layers=10**9), "at most 512"),
    "architectures a string": (lambda ck: _edit_config(ck, architectures="JinaBertModel"),
                               "must be a list"),
    "repeated vocab line": (_repeat_vocab_line, "twice"),
    "tokenizer model a string": (lambda ck: _edit_tokenizer_json(
        ck, lambda t: t.update(model="x")), "'model' is str"),
    "normalizer a list": (lambda ck: _edit_tokenizer_json(
        ck, lambda t: t.update(normalizer=[1])), "'normalizer' is list"),
    "added token id a string": (lambda ck: _edit_tokenizer_json(
        ck, lambda t: t["added_tokens"][0].update(id="abc")), "integer 'id'"),
    "added token id too large": (lambda ck: _edit_tokenizer_json(
        ck, lambda t: t["added_tokens"][0].update(id=10**12)), "outside the model.s 30,528 tokens"),
}


@pytest.mark.parametrize("case", HOSTILE_CHECKPOINTS)
def test_hostile_checkpoints_are_refused_with_a_message(checkpoint: Path, tmp_path: Path,
                                                        case: str) -> None:
    edit, match = HOSTILE_CHECKPOINTS[case]
    edit(checkpoint)  # type: ignore[operator]
    _refused(checkpoint, tmp_path / "m.gguf", JinaEdgeError, match)


def test_an_output_folder_that_cannot_be_made_is_a_conversion_error(
        checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConversionError, match="cannot write in"):
        convert_checkpoint(checkpoint, tmp_path / "file" / "m.gguf", output_type="f32")


def test_what_a_killed_conversion_left_is_removed_by_the_next(checkpoint: Path,
                                                               tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    out = tmp_path / "out"
    left = out / f".m.gguf.{dead.stdout.strip()}.abcd1234"
    alive = out / f".m.gguf.{os.getpid()}.efgh5678"  # a conversion still running
    for folder in (left, alive):
        folder.mkdir(parents=True)
        (folder / "f16.gguf").write_bytes(b"GGUF")
    convert_checkpoint(checkpoint, out / "m.gguf", output_type="f32")
    assert not left.exists()
    assert alive.exists()
