// The Tensor API of ProcessGroup: checks shapes, dtypes and devices, routes CPU tensors to the group's own
// algorithms (non-contiguous ones through a contiguous copy that is written back when the op completes) and
// CUDA tensors to NCCL.
#include <mutex>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/group_impl.hpp"
#ifdef ICCRT_HAVE_CUDA
#include "src/comm/backends/nccl/nccl_backend.hpp"
#endif

namespace iccrt::comm {

namespace {

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  ICCRT_CHECK_DTYPE(a.dtype() == b.dtype(), op, ": output dtype ", dtype_name(a.dtype()), " differs from input dtype ",
                    dtype_name(b.dtype()));
  ICCRT_CHECK_DEVICE(a.device() == b.device(), op, ": output on ", a.device().str(), " but input on ",
                     b.device().str());
}

// A contiguous tensor holding t's values (t itself when it is contiguous).
Tensor staged(const Tensor& t) { return t.is_contiguous() ? t : t.contiguous(); }

// Queue `task`, keeping `keep` alive until it ran, and copying `tmp` back into `dst` after it when they differ.
WorkPtr submit(ProcessGroup::Impl& p, Task task, std::vector<Tensor> keep, Tensor dst = Tensor(),
               Tensor tmp = Tensor()) {
  task.keep_alive = std::move(keep);
  if (dst.defined() && tmp.defined() && dst.data_ptr() != tmp.data_ptr()) {
    task.keep_alive.push_back(dst);
    task.keep_alive.push_back(tmp);
    task.after = [dst, tmp]() mutable { dst.copy_(tmp); };
  }
  return p.enqueue(std::move(task));
}

}  // namespace

#ifdef ICCRT_HAVE_CUDA
namespace {
NcclBackend& nccl_of(ProcessGroup& pg) {
  ProcessGroup::Impl& p = pg.impl();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!p.nccl) {
    // Collective: every rank reaches its first CUDA op in the same order.
    auto bcast = [&pg](const std::string& mine) {
      int64_t len = static_cast<int64_t>(mine.size());
      pg.broadcast(&len, 1, DType::Int64, 0)->wait();
      std::string buf = mine;
      buf.resize(static_cast<size_t>(len));
      pg.broadcast(buf.data(), buf.size(), DType::UInt8, 0)->wait();
      return buf;
    };
    p.nccl = std::make_unique<NcclBackend>(p.rank, p.size, p.name, p.opts.timeout, bcast);
  }
  return *p.nccl;
}
std::string cuda_what(const char* op, const Tensor& t, const ProcessGroup& pg) {
  return detail::str(op, " ", dtype_name(t.dtype()), " x ", t.numel(), " (nccl) on group '", pg.name(), "'");
}
}  // namespace
#endif

#define ICCRT_CUDA_ONLY_IN_CUDA_BUILD(op) \
  ICCRT_CHECK_DEVICE(false, op, ": CUDA tensors need the NCCL backend, but this iccrt was built without CUDA")

WorkPtr ProcessGroup::all_reduce(Tensor& t, ReduceOp op, CollectiveOptions o) {
  // The same dtype rules on every device (NCCL itself would also take uint8 and integer averages).
  kernels::cpu::comm_check_reducible(t.dtype(), op);
  if (t.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    Tensor c = staged(t);
    ICCRT_CHECK_VALUE(c.data_ptr() == t.data_ptr(), "all_reduce: CUDA tensors must be contiguous");
    return nccl_of(*this).all_reduce(c.data_ptr(), c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), op,
                                     c.device().index, o.algorithm, cuda_what("all_reduce", c, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("all_reduce");
#endif
  }
  Tensor c = staged(t);
  Task task = impl_->task_all_reduce(c.data_ptr(), c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), op, o);
  return submit(*impl_, std::move(task), {c}, t, c);
}

WorkPtr ProcessGroup::reduce_scatter(Tensor& out, const Tensor& in, ReduceOp op, CollectiveOptions o) {
  kernels::cpu::comm_check_reducible(in.dtype(), op);
  check_same("reduce_scatter", out, in);
  ICCRT_CHECK_SHAPE(in.numel() == out.numel() * size(), "reduce_scatter: input has ", in.numel(),
                    " elements, expected group size ", size(), " x output's ", out.numel());
  Tensor ci = staged(in), co = staged(out);
  if (in.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    ICCRT_CHECK_VALUE(ci.data_ptr() == in.data_ptr() && co.data_ptr() == out.data_ptr(),
                      "reduce_scatter: CUDA tensors must be contiguous");
    return nccl_of(*this).reduce_scatter(ci.data_ptr(), co.data_ptr(), static_cast<size_t>(co.numel()), co.dtype(), op,
                                         co.device().index, cuda_what("reduce_scatter", co, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("reduce_scatter");
#endif
  }
  Task task =
      impl_->task_reduce_scatter(ci.data_ptr(), co.data_ptr(), static_cast<size_t>(co.numel()), co.dtype(), op, o);
  return submit(*impl_, std::move(task), {ci, co}, out, co);
}

WorkPtr ProcessGroup::all_gather(Tensor& out, const Tensor& in, CollectiveOptions o) {
  check_same("all_gather", out, in);
  ICCRT_CHECK_SHAPE(out.numel() == in.numel() * size(), "all_gather: output has ", out.numel(),
                    " elements, expected group size ", size(), " x input's ", in.numel());
  Tensor ci = staged(in), co = staged(out);
  if (in.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    ICCRT_CHECK_VALUE(ci.data_ptr() == in.data_ptr() && co.data_ptr() == out.data_ptr(),
                      "all_gather: CUDA tensors must be contiguous");
    return nccl_of(*this).all_gather(ci.data_ptr(), co.data_ptr(), static_cast<size_t>(ci.numel()), ci.dtype(),
                                     ci.device().index, cuda_what("all_gather", ci, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("all_gather");
#endif
  }
  Task task = impl_->task_all_gather(ci.data_ptr(), co.data_ptr(), static_cast<size_t>(ci.numel()), ci.dtype(), o);
  return submit(*impl_, std::move(task), {ci, co}, out, co);
}

WorkPtr ProcessGroup::broadcast(Tensor& t, int root, CollectiveOptions o) {
  Tensor c = staged(t);
  if (t.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    ICCRT_CHECK_VALUE(c.data_ptr() == t.data_ptr(), "broadcast: CUDA tensors must be contiguous");
    return nccl_of(*this).broadcast(c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), root, c.device().index,
                                    cuda_what("broadcast", c, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("broadcast");
#endif
  }
  Task task = impl_->task_broadcast(c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), root, o);
  return submit(*impl_, std::move(task), {c}, t, c);
}

WorkPtr ProcessGroup::reduce(Tensor& t, int root, ReduceOp op, CollectiveOptions o) {
  kernels::cpu::comm_check_reducible(t.dtype(), op);
  Tensor c = staged(t);
  if (t.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    ICCRT_CHECK_VALUE(c.data_ptr() == t.data_ptr(), "reduce: CUDA tensors must be contiguous");
    return nccl_of(*this).reduce(c.data_ptr(), c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), op, root,
                                 c.device().index, cuda_what("reduce", c, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("reduce");
#endif
  }
  Task task = impl_->task_reduce(c.data_ptr(), c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), op, root, o);
  return submit(*impl_, std::move(task), {c}, t, c);
}

WorkPtr ProcessGroup::all_to_all(Tensor& out, const Tensor& in, CollectiveOptions o) {
  check_same("all_to_all", out, in);
  ICCRT_CHECK_SHAPE(out.numel() == in.numel(), "all_to_all: output has ", out.numel(), " elements, input ", in.numel());
  ICCRT_CHECK_SHAPE(in.numel() % size() == 0, "all_to_all: ", in.numel(), " elements do not split evenly over ", size(),
                    " ranks");
  Tensor ci = staged(in), co = staged(out);
  const size_t per_rank = static_cast<size_t>(in.numel() / size());
  if (in.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    ICCRT_CHECK_VALUE(ci.data_ptr() == in.data_ptr() && co.data_ptr() == out.data_ptr(),
                      "all_to_all: CUDA tensors must be contiguous");
    return nccl_of(*this).all_to_all(ci.data_ptr(), co.data_ptr(), per_rank, ci.dtype(), ci.device().index,
                                     cuda_what("all_to_all", ci, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("all_to_all");
#endif
  }
  Task task = impl_->task_all_to_all(ci.data_ptr(), co.data_ptr(), per_rank, ci.dtype(), o);
  return submit(*impl_, std::move(task), {ci, co}, out, co);
}

WorkPtr ProcessGroup::send(const Tensor& t, int dst, int tag) {
  Tensor c = staged(t);
  if (t.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    return nccl_of(*this).send(c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), dst, c.device().index,
                               cuda_what("send", c, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("send");
#endif
  }
  return submit(*impl_, impl_->task_send(c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), dst, tag), {c});
}

WorkPtr ProcessGroup::recv(Tensor& t, int src, int tag) {
  Tensor c = staged(t);
  if (t.device().is_cuda()) {
#ifdef ICCRT_HAVE_CUDA
    ICCRT_CHECK_VALUE(c.data_ptr() == t.data_ptr(), "recv: CUDA tensors must be contiguous");
    return nccl_of(*this).recv(c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), src, c.device().index,
                               cuda_what("recv", c, *this));
#else
    ICCRT_CUDA_ONLY_IN_CUDA_BUILD("recv");
#endif
  }
  return submit(*impl_, impl_->task_recv(c.data_ptr(), static_cast<size_t>(c.numel()), c.dtype(), src, tag), {c}, t, c);
}

}  // namespace iccrt::comm
