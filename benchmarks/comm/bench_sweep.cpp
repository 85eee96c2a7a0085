#include "bench_sweep.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>

#include "bench_data.hpp"

namespace iccrt::bench {

namespace {

// The two buffers, allocated once for the largest size (as nccl-tests does). CUDA backends get CPU mirrors
// where the pattern is written and checked.
struct Buffers {
  Tensor send, recv;            // on the backend's device
  Tensor send_host, recv_host;  // on the CPU; the same tensors when the device is the CPU
  bool mirrored = false;
};

Buffers allocate(const Options& o, const World& w, Device device) {
  const int64_t n = static_cast<int64_t>(buffer_elements(o.collective, o.max_bytes, o.dtype, w.size));
  Buffers b;
  b.send_host = empty({n}, o.dtype);
  b.recv_host = empty({n}, o.dtype);
  b.mirrored = device.is_cuda();
  b.send = b.mirrored ? empty({n}, TensorOptions(o.dtype, device)) : b.send_host;
  b.recv = b.mirrored ? empty({n}, TensorOptions(o.dtype, device)) : b.recv_host;
  return b;
}

Tensor view(const Buffers& b, const Range& r) {
  return (r.in_recv ? b.recv : b.send).narrow(0, static_cast<int64_t>(r.offset), static_cast<int64_t>(r.count));
}

void upload(Buffers& b, size_t elements) {
  if (!b.mirrored) return;
  const int64_t n = static_cast<int64_t>(elements);
  b.send.narrow(0, 0, n).copy_(b.send_host.narrow(0, 0, n));
  b.recv.narrow(0, 0, n).copy_(b.recv_host.narrow(0, 0, n));
}

void download(Buffers& b, size_t elements) {
  if (!b.mirrored) return;
  const int64_t n = static_cast<int64_t>(elements);
  b.send_host.narrow(0, 0, n).copy_(b.send.narrow(0, 0, n));
  b.recv_host.narrow(0, 0, n).copy_(b.recv.narrow(0, 0, n));
}

void barrier() {
  if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) throw Error("MPI_Barrier failed");
}

Measurement measure(CommBackend& be, const Options& o, const World& w, const CollSizes& s, bool in_place,
                    Buffers& buf) {
  Measurement m;
  if (in_place && !be.supports_in_place(o.collective)) return m;
  m.ran = true;
  const Layout layout = op_layout(o.collective, s, in_place, w.rank, be.reduce_scatter_result_at_block0());
  const OpCall call{view(buf, layout.in), view(buf, layout.out), s.count, in_place};
  const CheckSpec spec{o.collective, o.op, o.dtype, w.rank, w.size, o.root};
  const size_t elements = std::max(s.send_count, s.recv_count);

  // Time on the pattern data too (no NaN sentinels in the arithmetic).
  fill_buffers(spec, layout, buf.send_host.data_ptr(), buf.recv_host.data_ptr(), elements);
  upload(buf, elements);
  for (int i = 0; i < o.warmup; ++i) be.start(call);
  be.finish();
  barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.iters; ++i) be.start(call);
  be.finish();
  const auto t1 = std::chrono::steady_clock::now();
  double sec = std::chrono::duration<double>(t1 - t0).count() / o.iters;
  MPI_Allreduce(MPI_IN_PLACE, &sec, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  m.time_us = sec * 1e6;
  m.algbw = sec > 0 ? s.alg_bytes / 1e9 / sec : 0;
  m.busbw = m.algbw * s.bus_factor;

  if (o.check) {
    fill_buffers(spec, layout, buf.send_host.data_ptr(), buf.recv_host.data_ptr(), elements);
    upload(buf, elements);
    be.start(call);
    be.finish();
    download(buf, elements);
    int64_t wrong = static_cast<int64_t>(count_wrong(spec, layout, buf.send_host.data_ptr(), buf.recv_host.data_ptr()));
    MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    m.wrong = wrong;
  }
  return m;
}

}  // namespace

std::vector<Row> run_sweep(CommBackend& backend, const Options& o, const World& w,
                           const std::function<void(const Row&)>& on_row) {
  Buffers buf = allocate(o, w, backend.device());
  std::vector<Row> rows;
  for (uint64_t size = o.min_bytes; size <= o.max_bytes;
       size = o.step_factor > 1 ? std::max<uint64_t>(size * o.step_factor, 1) : size + o.step_bytes) {
    Row row;
    row.sizes = coll_sizes(o.collective, size, o.dtype, w.size);
    row.algo = backend.auto_choice(row.sizes.count * static_cast<size_t>(itemsize(o.dtype)));
    row.out_of_place = measure(backend, o, w, row.sizes, false, buf);
    row.in_place = measure(backend, o, w, row.sizes, true, buf);
    on_row(row);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace iccrt::bench
