"""iccrt.dtype objects, iccrt.device parsing and the iccrt.cuda queries."""

import pytest

import iccrt

DTYPES = {
    "float32": (4, True), "float64": (8, True), "float16": (2, True), "bfloat16": (2, True),
    "int32": (4, False), "int64": (8, False), "uint8": (1, False), "bool": (1, False),
}


@pytest.mark.parametrize("name", sorted(DTYPES))
def test_dtype_objects(name):
    dt = getattr(iccrt, name)
    assert isinstance(dt, iccrt.dtype)
    assert repr(dt) == f"iccrt.{name}" and dt.name == name
    assert (dt.itemsize, dt.is_floating_point) == DTYPES[name]
    assert iccrt.zeros(1, dtype=dt).dtype is dt  # a tensor's dtype is the module's singleton
    assert hash(dt) == hash(getattr(iccrt, name))


def test_dtype_aliases_and_comparisons():
    assert iccrt.float is iccrt.float32 and iccrt.double is iccrt.float64 and iccrt.half is iccrt.float16
    assert iccrt.long is iccrt.int64 and iccrt.int is iccrt.int32
    assert iccrt.float32 == iccrt.float32 and iccrt.float32 != iccrt.float64
    assert iccrt.float32 != "float32" and len({iccrt.float32, iccrt.float, iccrt.int64}) == 2
    assert iccrt.get_default_dtype() is iccrt.float32
    assert not iccrt.uint8.is_signed and iccrt.int32.is_signed


@pytest.mark.parametrize("spec, type_, index, text", [
    ("cpu", "cpu", None, "cpu"),
    ("cuda", "cuda", 0, "cuda:0"),
    ("cuda:0", "cuda", 0, "cuda:0"),
    ("cuda:3", "cuda", 3, "cuda:3"),
])
def test_device_parsing(spec, type_, index, text):
    d = iccrt.device(spec)
    assert d.type == type_ and d.index == index and str(d) == text
    assert d == iccrt.device(text) and d == spec and hash(d) == hash(iccrt.device(text))
    assert iccrt.device(d) == d


def test_device_forms_and_errors():
    assert iccrt.device("cuda", 2) == iccrt.device("cuda:2")
    assert iccrt.device("cpu") != iccrt.device("cuda:0")
    for bad in ["gpu", "cuda:", "cuda:-1", "cuda:a", "CPU", ""]:
        with pytest.raises(ValueError):
            iccrt.device(bad)
    with pytest.raises(ValueError):
        iccrt.device("cpu", 1)
    with pytest.raises(TypeError):
        iccrt.device(1.5)


def test_cuda_queries_are_consistent():
    n = iccrt.cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert iccrt.cuda.is_available() == (n > 0)
    assert iccrt.cuda.is_available() <= iccrt.cuda.is_compiled()
    stats = iccrt.cuda.memory_stats()
    assert isinstance(stats, dict)
    if iccrt.cuda.is_available():
        assert {"allocated_bytes", "reserved_bytes", "num_cache_hits"} <= set(stats)
    else:
        assert stats == {}
