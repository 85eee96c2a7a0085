#include "bench_data.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace iccrt::bench {

CollSizes coll_sizes(Collective c, uint64_t bytes, DType dtype, int nranks) {
  const size_t t = static_cast<size_t>(itemsize(dtype));
  const size_t n = static_cast<size_t>(nranks);
  const size_t total = bytes / t;
  CollSizes s;
  switch (c) {
    case Collective::AllReduce:
      s.count = s.send_count = s.recv_count = total;
      s.bus_factor = 2.0 * (nranks - 1) / nranks;
      break;
    case Collective::AllGather:
      s.count = s.send_count = total / n;
      s.recv_count = s.count * n;
      s.bus_factor = double(nranks - 1) / nranks;
      break;
    case Collective::ReduceScatter:
      s.count = s.recv_count = total / n;
      s.send_count = s.count * n;
      s.bus_factor = double(nranks - 1) / nranks;
      break;
    case Collective::AllToAll:
      s.count = total / n;
      s.send_count = s.recv_count = s.count * n;
      s.bus_factor = double(nranks - 1) / nranks;
      break;
    case Collective::Broadcast:
    case Collective::Reduce:
    case Collective::SendRecv:
      s.count = s.send_count = s.recv_count = total;
      s.bus_factor = 1;
      break;
  }
  s.size_bytes = std::max(s.send_count, s.recv_count) * t;
  s.alg_bytes = static_cast<double>(s.size_bytes);
  return s;
}

size_t buffer_elements(Collective c, uint64_t max_bytes, DType dtype, int nranks) {
  const CollSizes s = coll_sizes(c, max_bytes, dtype, nranks);
  return std::max<size_t>(std::max(s.send_count, s.recv_count), 1);
}

Layout op_layout(Collective c, const CollSizes& s, bool in_place, int rank, bool reduce_scatter_result_at_block0) {
  const size_t r = static_cast<size_t>(rank);
  Layout l;
  l.count = s.count;
  l.in = {in_place, 0, s.send_count};
  l.out = {true, 0, s.recv_count};
  if (in_place) {
    if (c == Collective::AllGather) l.in.offset = r * s.count;
    if (c == Collective::ReduceScatter && !reduce_scatter_result_at_block0) l.out.offset = r * s.count;
  }
  return l;
}

namespace {

// Data-movement pattern: element i of rank r's input. Integers in [-99, 99]: exact in every dtype, different
// for each rank (37 is invertible mod 199), so a block that lands at the wrong place is caught.
double data_value(int r, size_t i) { return static_cast<double>((i * 131 + static_cast<size_t>(r) * 37) % 199) - 99.0; }

// Reduction pattern. Sum / avg / min / max: integers in [1, 4], so sums stay exact up to 64 ranks even in
// bfloat16, and an in-place sum that did nothing never looks right. Prod: 2, -1 or 1, so products are signed
// powers of two (exact, no overflow below 60 ranks in half).
double reduce_value(comm::ReduceOp op, int r, size_t i) {
  if (op == comm::ReduceOp::Prod) {
    const size_t k = (i + static_cast<size_t>(r)) % 4;
    return k == 0 ? 2.0 : k == 1 ? -1.0 : 1.0;
  }
  return static_cast<double>((i * 13 + static_cast<size_t>(r) * 7) % 11 % 4) + 1.0;
}

double reduced_value(comm::ReduceOp op, int nranks, size_t i) {
  double acc = reduce_value(op, 0, i);
  for (int q = 1; q < nranks; ++q) {
    const double v = reduce_value(op, q, i);
    switch (op) {
      case comm::ReduceOp::Sum:
      case comm::ReduceOp::Avg:
        acc += v;
        break;
      case comm::ReduceOp::Prod:
        acc *= v;
        break;
      case comm::ReduceOp::Min:
        acc = std::min(acc, v);
        break;
      case comm::ReduceOp::Max:
        acc = std::max(acc, v);
        break;
    }
  }
  return op == comm::ReduceOp::Avg ? acc / nranks : acc;
}

bool is_reduce_input(Collective c) {
  return c == Collective::AllReduce || c == Collective::ReduceScatter || c == Collective::Reduce;
}

double input_value(const CheckSpec& s, size_t i) {
  return is_reduce_input(s.collective) ? reduce_value(s.op, s.rank, i) : data_value(s.rank, i);
}

// Expected value of element k of this rank's output range.
double expected_value(const CheckSpec& s, size_t count, size_t k) {
  switch (s.collective) {
    case Collective::AllReduce:
    case Collective::Reduce:
      return reduced_value(s.op, s.nranks, k);
    case Collective::ReduceScatter:
      return reduced_value(s.op, s.nranks, static_cast<size_t>(s.rank) * count + k);
    case Collective::AllGather:
      return data_value(static_cast<int>(k / count), k % count);
    case Collective::Broadcast:
      return data_value(s.root, k);
    case Collective::AllToAll:
      return data_value(static_cast<int>(k / count), static_cast<size_t>(s.rank) * count + k % count);
    case Collective::SendRecv:
      return data_value((s.rank - 1 + s.nranks) % s.nranks, k);
  }
  return 0;
}

template <class T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

template <class T>
double to_double(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

template <class T>
T sentinel() {
  if constexpr (std::is_integral_v<T>) {
    return std::numeric_limits<T>::min();
  } else {
    return from_double<T>(std::numeric_limits<double>::quiet_NaN());
  }
}

// One rounding of T, relative: what avg may differ by (it divides once, in the dtype or in float32).
template <class T>
double avg_tolerance() {
  if constexpr (std::is_same_v<T, Half>) return 1.0 / 1024;
  if constexpr (std::is_same_v<T, BFloat16>) return 1.0 / 128;
  if constexpr (std::is_same_v<T, float>) return 1.0 / (1 << 23);
  if constexpr (std::is_same_v<T, double>) return 1.0 / (int64_t{1} << 52);
  return 0;
}

template <class T>
T* at(const Range& r, void* send, void* recv) {
  return static_cast<T*>(r.in_recv ? recv : send) + r.offset;
}

}  // namespace

void fill_buffers(const CheckSpec& spec, const Layout& layout, void* send, void* recv, size_t elements) {
  dispatch(spec.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T s = sentinel<T>();
    std::fill_n(static_cast<T*>(send), elements, s);
    std::fill_n(static_cast<T*>(recv), elements, s);
    T* in = at<T>(layout.in, send, recv);
    for (size_t i = 0; i < layout.in.count; ++i) in[i] = from_double<T>(input_value(spec, i));
  });
}

size_t count_wrong(const CheckSpec& spec, const Layout& layout, const void* send, const void* recv) {
  if (spec.collective == Collective::Reduce && spec.rank != spec.root) return 0;
  const size_t count = layout.count;
  return dispatch(spec.dtype, [&](auto tag) -> size_t {
    using T = typename decltype(tag)::type;
    const T* out = at<T>(layout.out, const_cast<void*>(send), const_cast<void*>(recv));
    const double tol = spec.op == comm::ReduceOp::Avg ? avg_tolerance<T>() : 0.0;
    size_t wrong = 0;
    for (size_t k = 0; k < layout.out.count; ++k) {
      const double want = to_double(from_double<T>(expected_value(spec, count, k)));
      const double got = to_double(out[k]);
      if (!(std::fabs(got - want) <= tol * std::max(1.0, std::fabs(want)))) ++wrong;  // NaN counts as wrong
    }
    return wrong;
  });
}

}  // namespace iccrt::bench
