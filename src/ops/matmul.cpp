// Matrix products with numpy.matmul semantics. Transposed and broadcast operands are described to the GEMM
// kernel by flags and strides; only layouts no BLAS can express are copied.
#include "iccrt/ops/matmul.hpp"

#include <atomic>

#include "src/ops/op_common.hpp"

namespace iccrt {
namespace {
std::atomic<bool> g_allow_tf32{false};
}  // namespace
}  // namespace iccrt

namespace iccrt::ops {
namespace {

// How one operand (already expanded to batch dims + [rows, cols]) is handed to GEMM.
struct MatrixOperand {
  Tensor t;  // possibly a contiguous copy
  bool trans = false;
  int64_t ld = 0, batch_stride = 0;
};

// The batch dims of t (all but the last two) as one stride, if they form a single arithmetic progression.
bool single_batch_stride(const Tensor& t, int64_t& stride) {
  const int64_t nb = t.dim() - 2;
  stride = 0;
  bool have = false;
  int64_t inner_extent = 0;  // elements spanned by the batch dims inside the current one
  for (int64_t d = nb - 1; d >= 0; --d) {
    const int64_t sz = t.shape()[d], st = t.strides()[d];
    if (sz == 1) continue;
    if (!have) {
      stride = st;
      inner_extent = sz;
      have = true;
      continue;
    }
    if (st != stride * inner_extent) return false;
    inner_extent *= sz;
  }
  return true;
}

MatrixOperand prepare(const Tensor& x) {
  MatrixOperand m{x};
  const int64_t r = x.size(-2), c = x.size(-1), sr = x.stride(-2), sc = x.stride(-1);
  int64_t bs = 0;
  const bool batch_ok = single_batch_stride(x, bs);
  if (batch_ok && (sc == 1 || c == 1) && (sr >= std::max<int64_t>(c, 1) || r == 1)) {
    m.ld = r == 1 ? std::max<int64_t>(c, 1) : sr;
    m.batch_stride = bs;
    return m;
  }
  if (batch_ok && (sr == 1 || r == 1) && (sc >= std::max<int64_t>(r, 1) || c == 1)) {
    m.trans = true;  // stored column-major: the transpose of a row-major c × r matrix
    m.ld = c == 1 ? std::max<int64_t>(r, 1) : sc;
    m.batch_stride = bs;
    return m;
  }
  m.t = x.contiguous();
  m.ld = std::max<int64_t>(c, 1);
  m.batch_stride = r * c;
  return m;
}

}  // namespace

}  // namespace iccrt

namespace iccrt {
void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }
}  // namespace iccrt

namespace iccrt::ops {

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const Device dev = detail::common_device("matmul", {&a_in, &b_in});
  ICCRT_CHECK_SHAPE(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: both arguments need at least 1 dimension, got shapes ",
                    a_in.shape(), " and ", b_in.shape());
  ICCRT_CHECK_DTYPE(a_in.dtype() == b_in.dtype(), "matmul: expected both operands to have the same dtype, got ",
                    dtype_name(a_in.dtype()), " and ", dtype_name(b_in.dtype()));
  dispatch_floating(a_in.dtype(), "matmul", [](auto) {});
  const bool a_vec = a_in.dim() == 1, b_vec = b_in.dim() == 1;
  const Tensor a = a_vec ? a_in.unsqueeze(0) : a_in;
  const Tensor b = b_vec ? b_in.unsqueeze(-1) : b_in;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  ICCRT_CHECK_SHAPE(b.size(-2) == K, "matmul: shapes ", a_in.shape(), " and ", b_in.shape(),
                    " cannot be multiplied (inner dimensions ", K, " and ", b.size(-2), " differ)");

  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(ab, bb);
  Shape ashape = batch, bshape = batch, oshape = batch;
  ashape.insert(ashape.end(), {M, K});
  bshape.insert(bshape.end(), {K, N});
  oshape.insert(oshape.end(), {M, N});
  Tensor out = empty(oshape, TensorOptions(a.dtype(), dev));

  if (out.numel() > 0) {
    if (K == 0) {
      out.zero_();
    } else {
      const MatrixOperand A = prepare(a.expand(ashape)), B = prepare(b.expand(bshape));
      kernels::GemmArgs g;
      g.trans_a = A.trans;
      g.trans_b = B.trans;
      g.m = M;
      g.n = N;
      g.k = K;
      g.batch = shape_numel(batch);
      g.a = A.t.data_ptr();
      g.b = B.t.data_ptr();
      g.c = out.data_ptr();
      g.lda = A.ld;
      g.ldb = B.ld;
      g.ldc = N;
      g.stride_a = A.batch_stride;
      g.stride_b = B.batch_stride;
      g.stride_c = M * N;
      g.dtype = a.dtype();
      detail::run_on(
          dev, [&] { kernels::cpu::gemm(g); }, [&](void* s) { kernels::cuda::gemm(g, allow_tf32(), s); });
    }
  }
  if (a_vec) out = out.squeeze(-2);
  if (b_vec) out = out.squeeze(-1);
  return out;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  ICCRT_CHECK_SHAPE(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2,
                    "mm: expected two 2-D tensors, got shapes ", a.defined() ? a.shape() : Shape{}, " and ",
                    b.defined() ? b.shape() : Shape{});
  return matmul(a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  ICCRT_CHECK_SHAPE(a.defined() && b.defined() && a.dim() == 3 && b.dim() == 3,
                    "bmm: expected two 3-D tensors, got shapes ", a.defined() ? a.shape() : Shape{}, " and ",
                    b.defined() ? b.shape() : Shape{});
  ICCRT_CHECK_SHAPE(a.size(0) == b.size(0), "bmm: batch sizes differ: ", a.size(0), " and ", b.size(0));
  return matmul(a, b);
}

}  // namespace iccrt::ops
