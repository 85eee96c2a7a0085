"""safetensors interop: files iccrt writes load in the reference implementation (huggingface/safetensors) and
files it writes load in iccrt, bit for bit, metadata included. bfloat16 goes through the reference's raw-bytes
API, since NumPy has no bfloat16."""

import numpy as np
import pytest

import iccrt

safetensors = pytest.importorskip("safetensors")
from safetensors.numpy import load_file, save_file  # noqa: E402

if not hasattr(iccrt._C, "_save_safetensors"):
    pytest.skip("iccrt._C has no safetensors binding", allow_module_level=True)

META = {"format": "pt", "quote\"back\\slash": "line\nbreak\ttab", "unicode é€": "emoji 😀 中文", "": ""}


def reference_arrays():
    """One array per NumPy-representable dtype and a few layouts, with values that are not all zero."""
    rng = np.random.default_rng(5)
    out = {}
    for dt in [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8]:
        name = np.dtype(dt).name
        base = (rng.integers(0, 200, size=(5, 7)) - (0 if dt == np.uint8 else 100)).astype(dt)
        if np.issubdtype(dt, np.floating):
            base = base / np.asarray(8, dtype=dt)
        out[name] = base
        out[name + ".scalar"] = np.asarray(base[1, 2])
        out[name + ".empty"] = np.zeros((0, 3), dtype=dt)
        out[name + ".transposed"] = base.T  # non-contiguous on the iccrt side
    out["bool"] = rng.integers(0, 2, size=(4, 3)).astype(np.bool_)
    out["special"] = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40], dtype=np.float32)
    return out


def assert_same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def test_iccrt_writes_reference_reads(tmp_path):
    arrays = reference_arrays()
    path = str(tmp_path / "from_iccrt.safetensors")
    iccrt._C._save_safetensors(path, [(k, iccrt.from_numpy(v)) for k, v in arrays.items()], META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["from_iccrt.safetensors"]
    loaded = load_file(path)
    assert sorted(loaded) == sorted(arrays)
    for k, v in arrays.items():
        assert_same(loaded[k], v)
    with safetensors.safe_open(path, framework="numpy") as f:
        assert f.metadata() == META


def test_reference_writes_iccrt_reads(tmp_path):
    arrays = {k: np.ascontiguousarray(v) for k, v in reference_arrays().items()}
    path = str(tmp_path / "from_reference.safetensors")
    save_file(arrays, path, metadata=META)
    tensors, meta = iccrt._C._load_safetensors(path)
    assert meta == META
    assert sorted(name for name, _ in tensors) == sorted(arrays)
    for name, t in tensors:
        assert t.is_contiguous()
        assert_same(t.numpy(), arrays[name])


def reference_serialize(name, dtype, shape, data):
    """The reference implementation's raw-bytes writer (its API changed in 0.6: specs instead of dicts)."""
    if hasattr(safetensors, "TensorSpec"):
        buf = np.frombuffer(data, dtype=np.uint8).copy()
        spec = safetensors.TensorSpec(dtype=dtype, shape=shape, data_ptr=buf.ctypes.data, data_len=buf.nbytes)
        return bytes(safetensors.serialize({name: spec}))
    return bytes(safetensors.serialize({name: {"dtype": dtype, "shape": shape, "data": data}}))


BF16_BYTES = b"\x80\x3f\xc0\xbf\x80\x43\x00\x00\x00\x80\x80\xff"  # 1, -1.5, 256, 0, -0, -inf
BF16_VALUES = [1.0, -1.5, 256.0, 0.0, -0.0, -np.inf]


def test_bfloat16_both_directions(tmp_path):
    path = str(tmp_path / "bf16.safetensors")
    t = iccrt.from_numpy(np.array(BF16_VALUES, dtype=np.float32).reshape(2, 3)).to(iccrt.bfloat16)
    iccrt._C._save_safetensors(path, [("w", t)], {})
    with open(path, "rb") as f:
        ((name, info),) = safetensors.deserialize(f.read())
    assert name == "w" and info["dtype"] == "BF16" and list(info["shape"]) == [2, 3]
    assert bytes(info["data"]) == BF16_BYTES

    with open(path, "wb") as f:
        f.write(reference_serialize("r", "bfloat16", [3, 2], BF16_BYTES))
    tensors, meta = iccrt._C._load_safetensors(path)
    assert meta == {} and len(tensors) == 1 and tensors[0][0] == "r"
    r = tensors[0][1]
    assert r.dtype == iccrt.bfloat16 and tuple(r.shape) == (3, 2)
    got = r.to(iccrt.float32).numpy().ravel()
    assert np.array_equal(got, np.array(BF16_VALUES, dtype=np.float32))
    assert np.array_equal(np.signbit(got), np.signbit(np.array(BF16_VALUES)))


def test_iccrt_rejects_corrupted_reference_file(tmp_path):
    path = tmp_path / "cut.safetensors"
    save_file({"a": np.arange(16, dtype=np.float32)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[:-4])  # drop the last element
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        iccrt._C._load_safetensors(str(path))
