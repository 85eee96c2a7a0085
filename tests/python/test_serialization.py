"""iccrt.save / iccrt.load: nested round trips (model + optimizer + step + RNG + config), every dtype, views,
what the file looks like to a plain safetensors reader, corrupt and truncated files, atomic replacement."""

import json
import math
import os
import struct

import numpy as np
import pytest

import iccrt
from helpers import FLOAT_DTYPES, assert_close, to_numpy
from iccrt import nn, optim


def header_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def test_nested_round_trip(tmp_path):
    path = tmp_path / "obj.safetensors"
    obj = {
        "a": iccrt.arange(6).reshape(2, 3),
        "nested": {"list": [1, 2.5, "three", None, True], "tuple": (iccrt.ones(2), -7), 3: "int key"},
        "floats": [math.inf, -math.inf, 0.1],
        "dtype": iccrt.bfloat16,
        "device": iccrt.device("cpu"),
        "empty": {},
        "scalar": iccrt.tensor(2.5),
    }
    iccrt.save(obj, path)
    back = iccrt.load(path)
    assert set(back) == set(obj)
    assert_close(back["a"], to_numpy(obj["a"]))
    assert back["nested"]["list"] == [1, 2.5, "three", None, True]
    assert isinstance(back["nested"]["tuple"], tuple) and back["nested"]["tuple"][1] == -7
    assert_close(back["nested"]["tuple"][0], np.ones(2))
    assert back["nested"][3] == "int key"
    assert back["floats"][:2] == [math.inf, -math.inf] and back["floats"][2] == 0.1
    assert back["dtype"] is iccrt.bfloat16 and back["device"] == iccrt.device("cpu")
    assert back["empty"] == {} and back["scalar"].dim() == 0 and float(back["scalar"]) == 2.5
    nan = iccrt.load(_saved(tmp_path, {"x": math.nan}))["x"]
    assert math.isnan(nan)


def _saved(tmp_path, obj, name="x.safetensors"):
    path = tmp_path / name
    iccrt.save(obj, path)
    return path


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [iccrt.int32, iccrt.int64, iccrt.uint8, iccrt.bool],
                         ids=lambda d: d.name)
def test_dtypes_and_views(tmp_path, dtype):
    base = iccrt.tensor(np.arange(24).reshape(4, 6) % 5, dtype=dtype)
    view = base.t()[1:, ::2]  # non-contiguous
    back = iccrt.load(_saved(tmp_path, {"v": view, "b": base}))
    assert back["v"].dtype == dtype and back["v"].is_contiguous()
    assert_close(back["v"], to_numpy(view))
    assert_close(back["b"], to_numpy(base))


def test_file_is_plain_safetensors(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    path = _saved(tmp_path, {"model": model.state_dict(), "step": 7})
    header = header_of(path)
    names = sorted(k for k in header if k != "__metadata__")
    assert names == ["model.0.bias", "model.0.weight", "model.1.bias", "model.1.weight"]
    assert header["model.0.weight"]["dtype"] == "F32" and header["model.0.weight"]["shape"] == [2, 3]
    assert "iccrt.structure" in header["__metadata__"]
    # A file without iccrt's structure loads as a flat name -> tensor dict.
    plain = tmp_path / "plain.safetensors"
    iccrt._C._save_safetensors(str(plain), [("w", iccrt.ones(2))], {})
    loaded = iccrt.load(plain)
    assert list(loaded) == ["w"]


def test_colliding_names(tmp_path):
    obj = {"a.b": iccrt.ones(1), "a": {"b": iccrt.zeros(1)}}
    back = iccrt.load(_saved(tmp_path, obj))
    assert float(back["a.b"]) == 1.0 and float(back["a"]["b"]) == 0.0


def test_training_state_round_trip(tmp_path):
    """Model + AdamW + scheduler + step + RNG: resuming from the file continues exactly like not stopping."""
    def build():
        iccrt.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
        opt = optim.AdamW(model.parameters(), lr=0.01)
        sched = optim.lr_scheduler.CosineWarmupLR(opt, 2, 10)
        return model, opt, sched

    def train(model, opt, sched, gen, steps):
        for _ in range(steps):
            x = iccrt.randn(5, 4, generator=gen)
            loss = (model(x) ** 2.0).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    model, opt, sched = build()
    gen = iccrt.Generator(5)
    train(model, opt, sched, gen, 3)
    path = tmp_path / "ckpt.safetensors"
    iccrt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": 3, "rng": {"seed": gen.seed, "offset": gen.offset}}, path)
    train(model, opt, sched, gen, 3)

    model2, opt2, sched2 = build()
    ckpt = iccrt.load(path)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    assert ckpt["step"] == 3 and opt2.state[next(iter(model2.parameters()))]["step"] == 3
    gen2 = iccrt.Generator(0)
    gen2.manual_seed(ckpt["rng"]["seed"])
    gen2.offset = ckpt["rng"]["offset"]
    train(model2, opt2, sched2, gen2, 3)
    for (n, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        assert_close(b, to_numpy(a), rtol=0, atol=0)


def test_unsupported_objects(tmp_path):
    with pytest.raises(TypeError, match="set"):
        iccrt.save({"x": {1, 2}}, tmp_path / "bad.safetensors")
    with pytest.raises(TypeError):
        iccrt.save({(1, 2): 3}, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_truncated_and_corrupt_files(tmp_path):
    path = _saved(tmp_path, {"w": iccrt.randn(16, 16), "n": 3})
    data = path.read_bytes()
    for cut in (0, 4, 8, 20, len(data) // 2, len(data) - 1):
        p = tmp_path / f"cut{cut}.safetensors"
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            iccrt.load(p)
    n = struct.unpack("<Q", data[:8])[0]
    corrupt = bytearray(data)
    corrupt[8] = ord("[")  # header JSON no longer an object
    p = tmp_path / "corrupt.safetensors"
    p.write_bytes(bytes(corrupt))
    with pytest.raises(ValueError):
        iccrt.load(p)
    huge = struct.pack("<Q", 1 << 60) + data[8:]
    p.write_bytes(huge)
    with pytest.raises(ValueError):
        iccrt.load(p)
    # A valid safetensors file whose iccrt structure is broken.
    header = header_of(path)
    header["__metadata__"]["iccrt.structure"] = '{"D": [["w", {"T": "missing"}]]}'
    raw = json.dumps(header).encode()
    raw += b" " * (-(8 + len(raw)) % 8)
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    with pytest.raises(ValueError, match="missing"):
        iccrt.load(p)
    with pytest.raises(RuntimeError):
        iccrt.load(tmp_path / "does-not-exist.safetensors")


def test_atomic_replacement(tmp_path):
    path = _saved(tmp_path, {"v": iccrt.ones(3)})
    before = path.read_bytes()
    # An unsupported object fails before anything is written.
    with pytest.raises(TypeError):
        iccrt.save({"v": object()}, path)
    assert path.read_bytes() == before
    # The writer fails at the final rename (the target is a non-empty directory): the target is untouched and
    # the temporary file is removed.
    target = tmp_path / "dir.safetensors"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(RuntimeError):
        iccrt.save({"v": iccrt.zeros(3)}, target)
    assert (target / "keep").read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["dir.safetensors", "x.safetensors"]
    # A successful save replaces the old file as a whole.
    iccrt.save({"v": iccrt.zeros(3)}, path)
    assert float(iccrt.load(path)["v"].sum()) == 0.0


def test_map_location(tmp_path):
    back = iccrt.load(_saved(tmp_path, {"w": iccrt.ones(2)}), map_location="cpu")
    assert back["w"].device == iccrt.device("cpu")
    if iccrt.cuda.is_available():
        assert iccrt.load(tmp_path / "x.safetensors", map_location="cuda")["w"].is_cuda
