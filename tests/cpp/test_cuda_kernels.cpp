// The CUDA kernels against the CPU kernels: same arguments, same input bytes, outputs compared element by
// element (whole output buffers, so writes outside the view are caught too). Inputs cover every dtype an op
// takes, odd sizes, misaligned, transposed, gapped and broadcast (stride 0) operands. Compiled only in CUDA
// builds; every test skips visibly without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "iccrt/core/dtype.hpp"
#include "iccrt/core/half.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#include "src/core/cuda_runtime.hpp"

#define ICCRT_SKIP_WITHOUT_GPU() \
  if (iccrt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: CUDA kernel tests need a GPU"

namespace iccrt::kernels {
namespace {

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Device memory owned by a test (cudaMalloc directly: these tests do not go through Tensor or the allocator).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    if (bytes > 0) cuda_ok(cudaMalloc(&p_, bytes), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (p_ != nullptr) cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  char* get() const { return static_cast<char*>(p_); }

 private:
  void* p_ = nullptr;
};

// A host buffer and its device twin with the same bytes.
struct Mirror {
  std::vector<uint8_t> host;
  DeviceBuffer dev;
  explicit Mirror(std::vector<uint8_t> bytes) : host(std::move(bytes)), dev(host.size()) {
    cuda_ok(cudaMemcpy(dev.get(), host.data(), host.size(), cudaMemcpyHostToDevice), "upload");
  }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> out(host.size());
    cuda_ok(cudaDeviceSynchronize(), "kernel");
    cuda_ok(cudaMemcpy(out.data(), dev.get(), out.size(), cudaMemcpyDeviceToHost), "download");
    return out;
  }
};

// All elements of a buffer of dtype t as doubles (one dtype dispatch per buffer, not per element).
std::vector<double> to_doubles(DType t, const std::vector<uint8_t>& buf) {
  return dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<double> out(buf.size() / sizeof(T));
    for (size_t i = 0; i < out.size(); ++i) {
      T v;
      std::memcpy(&v, buf.data() + i * sizeof(T), sizeof(T));
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) out[i] = static_cast<float>(v);
      else out[i] = static_cast<double>(v);
    }
    return out;
  });
}

// Values stored as dtype t (16-bit floats through float, bool as != 0, integers truncated).
std::vector<uint8_t> from_doubles(DType t, const std::vector<double>& vals) {
  return dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<uint8_t> out(vals.size() * sizeof(T));
    for (size_t i = 0; i < vals.size(); ++i) {
      T v;
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) v = T(static_cast<float>(vals[i]));
      else if constexpr (std::is_same_v<T, bool>) v = vals[i] != 0.0;
      else v = static_cast<T>(vals[i]);
      std::memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
    }
    return out;
  });
}

using Gen = std::function<double(std::mt19937&)>;

Gen uniform(double lo, double hi) {
  return [=](std::mt19937& r) { return std::uniform_real_distribution<double>(lo, hi)(r); };
}
Gen integers(int64_t lo, int64_t hi) {
  return [=](std::mt19937& r) { return static_cast<double>(std::uniform_int_distribution<int64_t>(lo, hi)(r)); };
}
// Multiples of 0.5 in [-2, 2]: equal values are common, which comparisons and ties need.
Gen coarse() { return [](std::mt19937& r) { return 0.5 * std::uniform_int_distribution<int>(-4, 4)(r); }; }
Gen with_nans(Gen g, double frac) {
  return [=](std::mt19937& r) {
    return std::uniform_real_distribution<double>(0, 1)(r) < frac ? std::nan("") : g(r);
  };
}

// Values that make sense for dtype t: g for floating dtypes, small integers otherwise.
Gen for_dtype(DType t, Gen g) {
  if (is_floating(t)) return g;
  if (t == DType::Bool) return integers(0, 1);
  if (t == DType::UInt8) return integers(0, 255);
  return integers(-1000, 1000);
}

std::vector<uint8_t> random_bytes(DType t, int64_t n, const Gen& g, std::mt19937& rng) {
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = g(rng);
  return from_doubles(t, v);
}

struct Tol {
  double rtol, atol;
};
Tol tol_for(DType t) {
  switch (t) {
    case DType::Float64: return {1e-12, 1e-13};
    case DType::Float32: return {1e-5, 1e-6};
    case DType::Float16: return {1e-3, 1e-5};
    case DType::BFloat16: return {1e-2, 1e-5};
    default: return {0.0, 0.0};  // integers and bool: exact
  }
}

bool close(double got, double want, Tol tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::isfinite(got) && std::fabs(got - want) <= tol.atol + tol.rtol * std::fabs(want);
}

// Compares two buffers of dtype t element by element.
::testing::AssertionResult same(DType t, const std::vector<uint8_t>& got, const std::vector<uint8_t>& want,
                                Tol tol) {
  const std::vector<double> gv = to_doubles(t, got), wv = to_doubles(t, want);
  const int64_t n = static_cast<int64_t>(wv.size());
  int64_t bad = 0;
  std::ostringstream msg;
  for (int64_t i = 0; i < n; ++i) {
    const double g = gv[i], w = wv[i];
    if (!close(g, w, tol)) {
      if (bad < 5) msg << "\n  [" << i << "] cuda " << g << " cpu " << w;
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << n << " elements differ (" << dtype_name(t) << ", rtol "
                                       << tol.rtol << ", atol " << tol.atol << ")" << msg.str();
}

// ---- elementwise -------------------------------------------------------------------------------------------

// Where an operand's elements live: strides (elements, outermost first) and a leading offset in elements.
struct Placement {
  std::vector<int64_t> strides;
  int64_t offset = 0;
};

// An iteration shape and a placement per operand (operand 0 is the output).
struct Layout {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<Placement> place;  // one per operand
};

std::vector<int64_t> row_major(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

// The layouts every elementwise op is run over, for `nargs` operands. Each input gets a different placement
// where the layout mixes them, so that one launch sees several kinds at once. `big` adds two layouts of about
// 2^20 elements (many grid-stride iterations); they are kept to a few dtypes per op, as the CPU side of the
// comparison dominates the run time.
std::vector<Layout> layouts(int nargs, bool big) {
  std::vector<Layout> out;
  auto all = [&](std::string name, std::vector<int64_t> shape, std::function<Placement(int)> f) {
    Layout l{std::move(name), std::move(shape), {}};
    for (int k = 0; k < nargs; ++k) l.place.push_back(f(k));
    out.push_back(std::move(l));
  };
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}, (int64_t{1} << 20) + 3}) {
    if (n > 100000 && !big) continue;
    all("contiguous n=" + std::to_string(n), {n}, [](int) { return Placement{{1}, 0}; });
  }
  for (int64_t n : {int64_t{7}, int64_t{1023}}) {  // a pointer one element in: no 16-byte vector accesses
    all("misaligned n=" + std::to_string(n), {n}, [](int k) { return Placement{{1}, k % 2 == 0 ? 0 : 1}; });
  }
  for (auto rc : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 3}, {31, 33}, {1027, 1021}}) {
    const int64_t r = rc.first, c = rc.second;
    if (r * c > 100000 && !big) continue;
    const std::string dims = std::to_string(r) + "x" + std::to_string(c);
    // inputs column-major, output row-major
    all("transposed " + dims, {r, c}, [=](int k) { return k == 0 ? Placement{{c, 1}} : Placement{{1, r}}; });
    if (r * c > 100000) continue;  // the rest only at small sizes: the CPU reference is the slow side
    // gapped output (every other element), padded input rows
    all("gapped " + dims, {r, c}, [=](int k) { return k == 0 ? Placement{{2 * c, 2}} : Placement{{c + 5, 1}}; });
    // inputs broadcast along rows and along columns (stride 0), alternating
    all("broadcast " + dims, {r, c}, [=](int k) {
      return k == 0 ? Placement{{c, 1}} : (k % 2 ? Placement{{0, 1}} : Placement{{1, 0}});
    });
  }
  // four dims, inputs permuted (stored as [5, 4, 3] contiguous, viewed as [3, 1, 4, 5])
  all("permuted 4-d", {3, 1, 4, 5}, [](int k) {
    return k == 0 ? Placement{{20, 20, 5, 1}} : Placement{{1, 0, 3, 12}, k - 1};
  });
  return out;
}

// Runs one elementwise op on CPU and CUDA over every layout and compares the outputs.
//   dtypes[k]: operand k's dtype; gens[k]: its values (gens[0] only fills the output's initial bytes)
//   cpu/gpu: the kernel calls on the prepared arguments
//   big: include the ~2^20-element layouts
void check_elementwise(const std::string& what, const std::vector<DType>& dtypes, const std::vector<Gen>& gens,
                       const std::function<void(const ElementwiseArgs&)>& cpu,
                       const std::function<void(const ElementwiseArgs&)>& gpu, Tol tol, bool big) {
  std::mt19937 rng(1234);
  const int nargs = static_cast<int>(dtypes.size());
  for (const Layout& l : layouts(nargs, big)) {
    SCOPED_TRACE(what + ", " + l.name);
    const int ndim = static_cast<int>(l.shape.size());
    ElementwiseArgs host, dev;
    host.ndim = dev.ndim = ndim;
    host.nargs = dev.nargs = nargs;
    host.numel = 1;
    for (int d = 0; d < ndim; ++d) {
      host.shape[d] = dev.shape[d] = l.shape[d];
      host.numel *= l.shape[d];
    }
    dev.numel = host.numel;
    std::vector<std::unique_ptr<Mirror>> bufs;
    for (int k = 0; k < nargs; ++k) {
      const Placement& p = l.place[k];
      int64_t extent = p.offset + 1;
      for (int d = 0; d < ndim; ++d) extent += (l.shape[d] - 1) * p.strides[d];
      bufs.push_back(std::make_unique<Mirror>(random_bytes(dtypes[k], extent, gens[k], rng)));
      const int64_t off = p.offset * itemsize(dtypes[k]);
      host.data[k] = reinterpret_cast<char*>(bufs[k]->host.data()) + off;
      dev.data[k] = bufs[k]->dev.get() + off;
      host.dtype[k] = dev.dtype[k] = dtypes[k];
      for (int d = 0; d < ndim; ++d) host.strides[k][d] = dev.strides[k][d] = p.strides[d];
    }
    cpu(host);
    gpu(dev);
    EXPECT_TRUE(same(dtypes[0], bufs[0]->download(), bufs[0]->host, tol));
  }
}

const std::vector<DType> kAll = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                 DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};
const std::vector<DType> kFloating = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};

TEST(CudaKernels, Unary) {
  ICCRT_SKIP_WITHOUT_GPU();
  const std::vector<std::pair<UnaryOp, const char*>> any = {
      {UnaryOp::Neg, "neg"}, {UnaryOp::Abs, "abs"}, {UnaryOp::Relu, "relu"}};
  const std::vector<std::pair<UnaryOp, const char*>> floating = {
      {UnaryOp::Exp, "exp"},         {UnaryOp::Log, "log"},         {UnaryOp::Sqrt, "sqrt"},
      {UnaryOp::Rsqrt, "rsqrt"},     {UnaryOp::Tanh, "tanh"},       {UnaryOp::Sigmoid, "sigmoid"},
      {UnaryOp::GeluTanh, "gelu_tanh"}, {UnaryOp::GeluErf, "gelu_erf"}, {UnaryOp::Silu, "silu"}};
  auto run = [](UnaryOp op, const char* name, DType t, Gen g) {
    check_elementwise(
        std::string(name) + " " + dtype_name(t), {t, t}, {for_dtype(t, uniform(-1, 1)), for_dtype(t, g)},
        [&](const ElementwiseArgs& a) { cpu::unary(op, a); },
        [&](const ElementwiseArgs& a) { cuda::unary(op, a, nullptr); }, tol_for(t),
        t == DType::Float32 || t == DType::Float16);  // 16-byte vectors of 4 and of 8 elements
  };
  for (auto [op, name] : any)
    for (DType t : kAll) run(op, name, t, with_nans(uniform(-3, 3), 0.01));
  for (auto [op, name] : floating) {
    const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt;
    for (DType t : kFloating) run(op, name, t, positive ? uniform(0.05, 4) : uniform(-6, 6));
  }
}

TEST(CudaKernels, Binary) {
  ICCRT_SKIP_WITHOUT_GPU();
  struct Case {
    BinaryOp op;
    const char* name;
  };
  const std::vector<Case> cases = {
      {BinaryOp::Add, "add"},         {BinaryOp::Sub, "sub"}, {BinaryOp::Mul, "mul"}, {BinaryOp::Div, "div"},
      {BinaryOp::Pow, "pow"},         {BinaryOp::Maximum, "maximum"},                 {BinaryOp::Minimum, "minimum"},
      {BinaryOp::Eq, "eq"},           {BinaryOp::Ne, "ne"},   {BinaryOp::Lt, "lt"},   {BinaryOp::Le, "le"},
      {BinaryOp::Gt, "gt"},           {BinaryOp::Ge, "ge"}};
  for (const Case& c : cases) {
    for (DType t : kAll) {
      if (c.op == BinaryOp::Div && !is_floating(t)) continue;  // the ops layer divides floats only
      Gen x = coarse(), y = coarse();
      if (c.op == BinaryOp::Div) y = uniform(0.5, 3);
      if (c.op == BinaryOp::Pow) {
        x = is_floating(t) ? uniform(0.1, 3) : integers(t == DType::Int32 || t == DType::Int64 ? -5 : 0, 5);
        y = is_floating(t) ? uniform(-2, 2) : integers(0, t == DType::Bool ? 1 : 6);
      } else if (c.op == BinaryOp::Maximum || c.op == BinaryOp::Minimum || is_comparison(c.op)) {
        x = with_nans(x, 0.02);
        y = with_nans(y, 0.02);
      }
      if (!is_floating(t) && c.op != BinaryOp::Pow) {
        // Small integers where equality matters, the full range of the type's test values otherwise.
        const bool ties = is_comparison(c.op) || c.op == BinaryOp::Maximum || c.op == BinaryOp::Minimum;
        x = y = ties && t != DType::Bool ? integers(t == DType::UInt8 ? 0 : -3, 3) : for_dtype(t, nullptr);
      }
      const DType out = is_comparison(c.op) ? DType::Bool : t;
      check_elementwise(
          std::string(c.name) + " " + dtype_name(t), {out, t, t}, {for_dtype(out, coarse()), x, y},
          [&](const ElementwiseArgs& a) { cpu::binary(c.op, a); },
          [&](const ElementwiseArgs& a) { cuda::binary(c.op, a, nullptr); }, tol_for(out),
          t == DType::Float32 && (c.op == BinaryOp::Add || c.op == BinaryOp::Lt));
    }
  }
}

TEST(CudaKernels, BinaryScalar) {
  ICCRT_SKIP_WITHOUT_GPU();
  const std::vector<BinaryOp> ops = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow,
                                     BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Lt, BinaryOp::Eq};
  for (BinaryOp op : ops) {
    for (DType t : kAll) {
      if (op == BinaryOp::Div && !is_floating(t)) continue;
      // Scalars valid for t (the ops layer guarantees this): floats for floating dtypes, small integers else.
      const std::vector<Scalar> scalars =
          is_floating(t)       ? std::vector<Scalar>{Scalar(1.5), Scalar(2.0), Scalar(int64_t{-3})}
          : t == DType::Bool   ? std::vector<Scalar>{Scalar(true), Scalar(false)}
                               : std::vector<Scalar>{Scalar(int64_t{3}), Scalar(int64_t{2})};
      for (Scalar s : scalars) {
        for (bool reversed : {false, true}) {
          Gen x = for_dtype(t, coarse());
          if (op == BinaryOp::Pow) x = is_floating(t) ? uniform(0.1, 3) : integers(0, t == DType::Bool ? 1 : 5);
          if (op == BinaryOp::Pow && reversed && !is_floating(t)) x = integers(0, t == DType::Bool ? 1 : 6);
          if (op == BinaryOp::Div && reversed) x = uniform(0.5, 3);
          const DType out = is_comparison(op) ? DType::Bool : t;
          std::ostringstream what;
          what << "op " << static_cast<int>(op) << " " << dtype_name(t) << " scalar " << s.d
               << (reversed ? " reversed" : "");
          check_elementwise(
              what.str(), {out, t}, {for_dtype(out, coarse()), x},
              [&](const ElementwiseArgs& a) { cpu::binary_scalar(op, a, s, reversed); },
              [&](const ElementwiseArgs& a) { cuda::binary_scalar(op, a, s, reversed, nullptr); }, tol_for(out),
              t == DType::BFloat16 && op == BinaryOp::Mul && !reversed);
        }
      }
    }
  }
}

TEST(CudaKernels, Where) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kAll) {
    const Gen v = for_dtype(t, with_nans(uniform(-5, 5), 0.01));
    check_elementwise(
        std::string("where ") + dtype_name(t), {t, DType::Bool, t, t}, {v, integers(0, 1), v, v},
        [](const ElementwiseArgs& a) { cpu::where(a); }, [](const ElementwiseArgs& a) { cuda::where(a, nullptr); },
        Tol{0, 0}, t == DType::Float64);
  }
}

TEST(CudaKernels, CopyEveryDtypePair) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType to : kAll) {
    for (DType from : kAll) {
      // In-range values with fractions (truncation), zeros (->bool) and negatives (->uint8 wraps).
      Gen g = is_floating(from) ? Gen([](std::mt19937& r) {
        const double v = std::uniform_real_distribution<double>(-100, 100)(r);
        return std::uniform_int_distribution<int>(0, 9)(r) == 0 ? 0.0 : v;
      })
                                : for_dtype(from, nullptr);
      if (from == DType::Int32 || from == DType::Int64) g = integers(-300, 300);
      check_elementwise(
          std::string("copy ") + dtype_name(from) + " -> " + dtype_name(to), {to, from},
          {for_dtype(to, uniform(-1, 1)), g}, [](const ElementwiseArgs& a) { cpu::copy(a); },
          [](const ElementwiseArgs& a) { cuda::copy(a, nullptr); }, Tol{0, 0},
          (from == DType::Float32 && (to == DType::Float32 || to == DType::Float16 || to == DType::Int32)) ||
              (from == DType::BFloat16 && to == DType::Float32));
    }
  }
}

TEST(CudaKernels, Fill) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kAll) {
    std::vector<Scalar> values = {Scalar(int64_t{0}), Scalar(int64_t{7}), Scalar(true)};
    if (is_floating(t)) values.push_back(Scalar(-2.5));
    if (t == DType::Int32 || t == DType::Int64) values.push_back(Scalar(int64_t{-123456}));
    for (Scalar v : values) {
      check_elementwise(
          std::string("fill ") + dtype_name(t) + " " + std::to_string(v.d), {t}, {for_dtype(t, uniform(-1, 1))},
          [&](const ElementwiseArgs& a) { cpu::fill(a, v); },
          [&](const ElementwiseArgs& a) { cuda::fill(a, v, nullptr); }, Tol{0, 0}, t == DType::Float32);
    }
  }
}

TEST(CudaKernels, Arange) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kAll) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}, (int64_t{1} << 20) + 3}) {
      SCOPED_TRACE(std::string("arange ") + dtype_name(t) + " n=" + std::to_string(n));
      const Scalar start = is_floating(t) ? Scalar(-1.5) : Scalar(int64_t{-7});
      const Scalar step = is_floating(t) ? Scalar(0.25) : Scalar(int64_t{3});
      std::vector<uint8_t> want(static_cast<size_t>(n * itemsize(t)));
      cpu::arange(want.data(), t, n, start, step);
      Mirror got(std::vector<uint8_t>(want.size(), 0));
      cuda::arange(got.dev.get(), t, n, start, step, nullptr);
      EXPECT_TRUE(same(t, got.download(), want, tol_for(t)));
    }
  }
}

TEST(CudaKernels, Random) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kFloating) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}, (int64_t{1} << 20) + 3}) {
      for (uint64_t offset : {uint64_t{0}, uint64_t{12}}) {
        for (bool normal : {false, true}) {
          SCOPED_TRACE(std::string(normal ? "normal " : "uniform ") + dtype_name(t) + " n=" + std::to_string(n) +
                       " offset=" + std::to_string(offset));
          const uint64_t seed = 0x1234567890abcdefull;
          std::vector<uint8_t> want(static_cast<size_t>(n * itemsize(t)));
          Mirror got(std::vector<uint8_t>(want.size(), 0));
          if (normal) {
            cpu::random_normal(want.data(), t, n, seed, offset, 0.5, 2.0);
            cuda::random_normal(got.dev.get(), t, n, seed, offset, 0.5, 2.0, nullptr);
          } else {
            cpu::random_uniform(want.data(), t, n, seed, offset, -2.0, 3.0);
            cuda::random_uniform(got.dev.get(), t, n, seed, offset, -2.0, 3.0, nullptr);
          }
          // Equal up to the last ulp: normals' log/cos differ there, and a + (b - a) * u may be contracted to an
          // FMA on one side only.
          EXPECT_TRUE(same(t, got.download(), want, tol_for(t)));
        }
      }
    }
  }
}

// ---- reductions ----------------------------------------------------------------------------------------------

// An input of `in_shape` (row-major, contiguous) reduced over the dims in `red`; the output is written
// row-major at stride `out_step` (2 leaves gaps that must stay untouched).
struct ReduceCase {
  std::vector<int64_t> in_shape;
  std::vector<int> red;
  int64_t out_step = 1;
};

std::string case_name(const ReduceCase& c) {
  std::ostringstream os;
  os << "shape [";
  for (size_t i = 0; i < c.in_shape.size(); ++i) os << (i ? "," : "") << c.in_shape[i];
  os << "] over {";
  for (size_t i = 0; i < c.red.size(); ++i) os << (i ? "," : "") << c.red[i];
  os << "} out step " << c.out_step;
  return os.str();
}

const std::vector<ReduceCase>& reduce_cases() {
  static const std::vector<ReduceCase> cases = {
      {{1}, {0}},                                   // one element
      {{7}, {0}},                                   // full reduction, odd size
      {{(1 << 20) + 3}, {0}},                       // full reduction, split over blocks
      {{7, 1023}, {1}},                             // inner dim
      {{1023, 7}, {0}},                             // outer dim, outputs contiguous
      {{3, 100003}, {1}},                           // few long rows
      {{100003, 3}, {0}},                           // few long columns
      {{5000, 3}, {1}, 2},                          // many short rows, gapped output
      {{6, 37, 5}, {1}},                            // middle dim
      {{9, 11, 13}, {0, 2}},                        // two reduced dims around a kept one
      {{4, 5, 6}, {0, 1, 2}},                       // everything, three dims
      {{33, 65}, {0}, 2},                           // outer, gapped output
      {{64, 0}, {1}},                               // empty reduction (sum 0, mean/var NaN)
  };
  return cases;
}

// Builds ReduceArgs for `c` over `in`, writing `out` (and `index`). Dims of size 1 and empty dims keep their
// places; strides are row-major.
ReduceArgs make_reduce(const ReduceCase& c, ReduceKind kind, DType in_t, DType out_t, const char* in, char* out,
                       int64_t* index, int64_t* out_numel_ret) {
  ReduceArgs a;
  a.kind = kind;
  a.in_dtype = in_t;
  a.out_dtype = out_t;
  a.in = in;
  a.out = out;
  a.index = index;
  const std::vector<int64_t> st = row_major(c.in_shape);
  std::vector<int64_t> out_shape;
  a.out_numel = 1;
  a.red_numel = 1;
  for (int d = 0; d < static_cast<int>(c.in_shape.size()); ++d) {
    const bool reduced = std::find(c.red.begin(), c.red.end(), d) != c.red.end();
    if (reduced) {
      a.red_shape[a.red_ndim] = c.in_shape[d];
      a.in_strides_red[a.red_ndim++] = st[d];
      a.red_numel *= c.in_shape[d];
    } else {
      a.out_shape[a.out_ndim] = c.in_shape[d];
      a.in_strides_out[a.out_ndim++] = st[d];
      out_shape.push_back(c.in_shape[d]);
      a.out_numel *= c.in_shape[d];
    }
  }
  const std::vector<int64_t> ost = row_major(out_shape);
  for (int d = 0; d < a.out_ndim; ++d) a.out_strides[d] = ost[d] * c.out_step;
  *out_numel_ret = a.out_numel;
  return a;
}

void check_reduce(ReduceKind kind, const char* name, DType t, const Gen& g, int64_t correction = 1) {
  std::mt19937 rng(99);
  const bool integral_sum = kind == ReduceKind::Sum && !is_floating(t);
  const DType out_t = integral_sum ? DType::Int64 : t;
  const bool with_index = kind == ReduceKind::Max || kind == ReduceKind::Min;
  for (const ReduceCase& c : reduce_cases()) {
    int64_t in_numel = 1;
    for (int64_t s : c.in_shape) in_numel *= s;
    int64_t red_numel = 1;
    for (int d : c.red) red_numel *= c.in_shape[d];
    if (with_index && red_numel == 0) continue;  // the ops layer never asks for an empty max
    SCOPED_TRACE(std::string(name) + " " + dtype_name(t) + ", " + case_name(c));
    Mirror in(random_bytes(t, std::max<int64_t>(in_numel, 1), g, rng));
    int64_t out_numel = 0;
    make_reduce(c, kind, t, out_t, nullptr, nullptr, nullptr, &out_numel);
    const int64_t out_extent = (out_numel - 1) * c.out_step + 1;
    Mirror out(random_bytes(out_t, out_extent, for_dtype(out_t, uniform(-1, 1)), rng));
    Mirror index(random_bytes(DType::Int64, out_extent, integers(-5, -1), rng));
    ReduceArgs h = make_reduce(c, kind, t, out_t, reinterpret_cast<const char*>(in.host.data()),
                               reinterpret_cast<char*>(out.host.data()),
                               with_index ? reinterpret_cast<int64_t*>(index.host.data()) : nullptr, &out_numel);
    ReduceArgs d = make_reduce(c, kind, t, out_t, in.dev.get(), out.dev.get(),
                               with_index ? reinterpret_cast<int64_t*>(index.dev.get()) : nullptr, &out_numel);
    h.correction = d.correction = correction;
    cpu::reduce(h);
    cuda::reduce(d, nullptr);
    // Sums of many terms: the accumulation order differs, so atol grows with the square root of the count.
    Tol tol = tol_for(out_t);
    if (kind != ReduceKind::Max && kind != ReduceKind::Min) {
      tol.atol *= std::sqrt(static_cast<double>(std::max<int64_t>(red_numel, 1)));
      if (t == DType::Float16 || t == DType::BFloat16) tol.atol += tol.rtol * std::sqrt(static_cast<double>(red_numel));
    }
    EXPECT_TRUE(same(out_t, out.download(), out.host, tol));
    if (with_index) {
      EXPECT_TRUE(same(DType::Int64, index.download(), index.host, Tol{0, 0})) << "indices";
    }
  }
}

TEST(CudaKernels, ReduceSum) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kAll) check_reduce(ReduceKind::Sum, "sum", t, for_dtype(t, uniform(-1, 1)));
}

TEST(CudaKernels, ReduceMeanVar) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kFloating) {
    check_reduce(ReduceKind::Mean, "mean", t, uniform(-1, 3));
    check_reduce(ReduceKind::Var, "var", t, uniform(-1, 3), 1);
    check_reduce(ReduceKind::Var, "var (correction 0)", t, uniform(-1, 3), 0);
    check_reduce(ReduceKind::Var, "var (correction 7: NaN where N <= 7)", t, uniform(-1, 3), 7);
  }
}

TEST(CudaKernels, ReduceMaxMinWithIndex) {
  ICCRT_SKIP_WITHOUT_GPU();
  for (DType t : kAll) {
    // Coarse values make ties common: the first extreme element must win on both devices.
    const Gen ties = is_floating(t) ? coarse() : (t == DType::Bool ? integers(0, 1) : integers(-3, 3));
    check_reduce(ReduceKind::Max, "max", t, ties);
    check_reduce(ReduceKind::Min, "min", t, ties);
    if (is_floating(t)) {
      check_reduce(ReduceKind::Max, "max with NaN", t, with_nans(coarse(), 0.001));
      check_reduce(ReduceKind::Min, "min with NaN", t, with_nans(coarse(), 0.001));
    }
  }
}

// ---- gemm ----------------------------------------------------------------------------------------------------

struct GemmCase {
  int64_t m, n, k, batch;
  bool trans_a, trans_b;
  int pad;                 // extra elements per row (row stride = width + pad)
  int broadcast;           // 0: none, 1: A shared across the batch (stride 0), 2: B shared
  int64_t misalign;        // elements the matrices start into their buffers
  double alpha, beta;
};

void check_gemm(DType t, const GemmCase& c, bool tf32, Tol tol) {
  std::mt19937 rng(7);
  std::ostringstream name;
  name << dtype_name(t) << " m=" << c.m << " n=" << c.n << " k=" << c.k << " batch=" << c.batch
       << " ta=" << c.trans_a << " tb=" << c.trans_b << " pad=" << c.pad << " broadcast=" << c.broadcast
       << " misalign=" << c.misalign << " alpha=" << c.alpha << " beta=" << c.beta << " tf32=" << tf32;
  SCOPED_TRACE(name.str());
  // Stored shapes: A is m×k (k×m when transposed), B k×n (n×k), C m×n; rows padded by `pad`.
  const int64_t a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
  const int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  GemmArgs g;
  g.trans_a = c.trans_a;
  g.trans_b = c.trans_b;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.batch = c.batch;
  g.lda = a_cols + c.pad;
  g.ldb = b_cols + c.pad;
  g.ldc = c.n + c.pad;
  g.stride_a = c.broadcast == 1 ? 0 : a_rows * g.lda;
  g.stride_b = c.broadcast == 2 ? 0 : b_rows * g.ldb;
  g.stride_c = c.m * g.ldc;
  g.dtype = t;
  g.alpha = c.alpha;
  g.beta = c.beta;
  const int64_t na = c.misalign + (c.broadcast == 1 ? 1 : c.batch) * a_rows * g.lda;
  const int64_t nb = c.misalign + (c.broadcast == 2 ? 1 : c.batch) * b_rows * g.ldb;
  const int64_t nc = c.misalign + c.batch * c.m * g.ldc;
  Mirror A(random_bytes(t, na, uniform(-1, 1), rng)), B(random_bytes(t, nb, uniform(-1, 1), rng)),
      C(random_bytes(t, nc, uniform(-1, 1), rng));
  const int64_t off = c.misalign * itemsize(t);
  GemmArgs h = g, d = g;
  h.a = A.host.data() + off;
  h.b = B.host.data() + off;
  h.c = C.host.data() + off;
  d.a = A.dev.get() + off;
  d.b = B.dev.get() + off;
  d.c = C.dev.get() + off;
  // Error bound per element of C: tol * (|alpha| sum_k |a||b| + |beta||c|), from the stored inputs.
  const std::vector<double> av = to_doubles(t, A.host), bv = to_doubles(t, B.host), cv = to_doubles(t, C.host);
  std::vector<double> bound(static_cast<size_t>(nc), 0.0);
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < c.k; ++p) {
          const int64_t ia = c.misalign + b * g.stride_a + (c.trans_a ? p * g.lda + i : i * g.lda + p);
          const int64_t ib = c.misalign + b * g.stride_b + (c.trans_b ? j * g.ldb + p : p * g.ldb + j);
          s += std::fabs(av[ia] * bv[ib]);
        }
        const int64_t ic = c.misalign + b * g.stride_c + i * g.ldc + j;
        bound[ic] = std::fabs(c.alpha) * s + std::fabs(c.beta) * std::fabs(cv[ic]);
      }
    }
  }
  cpu::gemm(h);
  cuda::gemm(d, tf32, nullptr);
  const std::vector<double> got = to_doubles(t, C.download()), want = to_doubles(t, C.host);
  int64_t bad = 0;
  std::ostringstream msg;
  for (int64_t i = 0; i < nc; ++i) {
    const double x = got[i], w = want[i];
    if (!(std::fabs(x - w) <= tol.atol + tol.rtol * (bound[i] + std::fabs(w)))) {
      if (bad < 5) msg << "\n  [" << i << "] cuda " << x << " cpu " << w << " bound " << bound[i];
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << "elements of C differ:" << msg.str();
}

TEST(CudaKernels, Gemm) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::vector<GemmCase> cases;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      cases.push_back({1, 1, 1, 1, ta, tb, 0, 0, 0, 1.0, 0.0});
      cases.push_back({7, 5, 3, 1, ta, tb, 0, 0, 0, 1.0, 0.0});
      cases.push_back({64, 48, 32, 1, ta, tb, 0, 0, 0, 1.5, 0.5});
      cases.push_back({129, 67, 255, 1, ta, tb, 3, 0, 0, 1.0, 0.0});          // padded rows
      cases.push_back({33, 17, 40, 3, ta, tb, 0, 0, 0, 1.0, 1.0});            // batched, accumulate into C
      cases.push_back({33, 17, 40, 3, ta, tb, 1, 1, 0, 0.5, 0.0});            // A broadcast
      cases.push_back({33, 17, 40, 3, ta, tb, 0, 2, 0, 1.0, 0.25});           // B broadcast (folds when !ta)
      cases.push_back({31, 29, 27, 2, ta, tb, 0, 0, 1, 1.0, 0.5});            // misaligned pointers
    }
  }
  cases.push_back({8, 6, 0, 2, false, false, 0, 0, 0, 1.0, 0.5});  // k == 0: C = beta * C
  cases.push_back({8, 6, 0, 1, false, false, 0, 0, 0, 1.0, 0.0});  // k == 0, beta 0: zeros
  const std::vector<std::pair<DType, Tol>> dtypes = {{DType::Float32, {1e-5, 1e-6}},
                                                     {DType::Float64, {1e-12, 1e-13}},
                                                     {DType::Float16, {2e-3, 1e-4}},
                                                     {DType::BFloat16, {1e-2, 1e-3}}};
  for (const auto& [t, tol] : dtypes)
    for (const GemmCase& c : cases) check_gemm(t, c, false, tol);
  // TF32 rounds inputs to 10 mantissa bits.
  for (const GemmCase& c : cases) check_gemm(DType::Float32, c, true, Tol{5e-3, 1e-4});
}

TEST(CudaRuntime, LibraryVersionsAndDevice) {
  ICCRT_SKIP_WITHOUT_GPU();
  const std::string v = ::iccrt::cuda::library_versions();
  EXPECT_NE(v.find("cuBLAS"), std::string::npos) << v;
  EXPECT_NE(v.find("cuDNN"), std::string::npos) << v;
  EXPECT_NE(v.find("NCCL"), std::string::npos) << v;
  EXPECT_EQ(v.find("driver none"), std::string::npos) << v;
  const int before = ::iccrt::cuda::current_device();
  {
    ::iccrt::cuda::DeviceGuard g(::iccrt::cuda::device_count() - 1);
    EXPECT_EQ(::iccrt::cuda::current_device(), ::iccrt::cuda::device_count() - 1);
  }
  EXPECT_EQ(::iccrt::cuda::current_device(), before);
}

}  // namespace
}  // namespace iccrt::kernels
