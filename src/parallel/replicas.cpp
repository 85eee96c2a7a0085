// Keeping model replicas identical across ranks: the construction-time check that every rank holds the same
// parameters, and the coalesced broadcast of parameters and buffers from one rank.
#include <algorithm>
#include <cstring>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/parallel/reducer.hpp"

namespace iccrt::parallel {

namespace {

// One tensor's description as integers: dtype, device type, requires_grad, ndim, sizes.
constexpr size_t kDescLen = 4 + kMaxDims;

std::vector<int64_t> describe(const Tensor& t) {
  std::vector<int64_t> d(kDescLen, 0);
  d[0] = static_cast<int64_t>(t.dtype());
  d[1] = static_cast<int64_t>(t.device().type);
  d[2] = t.requires_grad();
  d[3] = t.dim();
  for (int64_t i = 0; i < t.dim(); ++i) d[4 + i] = t.size(i);
  return d;
}

std::string text(const int64_t* d) {
  Shape shape(d + 4, d + 4 + d[3]);
  return detail::str("shape ", shape, ", ", dtype_name(static_cast<DType>(d[0])), ", ",
                     d[1] == static_cast<int64_t>(DeviceType::CPU) ? "cpu" : "cuda",
                     d[2] ? ", requires_grad" : ", no grad");
}

uint64_t fnv1a(const std::vector<int64_t>& v) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t x : v) {
    uint64_t u = static_cast<uint64_t>(x);
    for (int k = 0; k < 8; ++k) {
      h ^= (u >> (8 * k)) & 0xffu;
      h *= 1099511628211ull;
    }
  }
  return h;
}

void all_gather(comm::ProcessGroup& pg, const int64_t* in, int64_t* out, size_t count) {
  comm::CollectiveOptions o;
  o.blocking = true;
  pg.all_gather(in, out, count, DType::Int64, o)->wait();
}

}  // namespace

// One all-gather of (count, hash) in the common case. On a mismatch, two more collectives find the first rank
// and tensor that differ from rank 0, so that every rank raises the same message.
void check_same_across_ranks(comm::ProcessGroup& pg, const std::vector<Tensor>& tensors,
                             const std::vector<std::string>& names, const std::string& what) {
  const int n = pg.size();
  if (n == 1) return;
  std::vector<int64_t> flat;
  for (const Tensor& t : tensors) {
    std::vector<int64_t> d = describe(t);
    flat.insert(flat.end(), d.begin(), d.end());
  }
  const int64_t mine[2] = {static_cast<int64_t>(tensors.size()), static_cast<int64_t>(fnv1a(flat))};
  std::vector<int64_t> all(2 * n);
  all_gather(pg, mine, all.data(), 2);
  bool same = true;
  for (int r = 1; r < n; ++r) same = same && all[2 * r] == all[0] && all[2 * r + 1] == all[1];
  if (same) return;

  // Rank 0's descriptions, then each rank's first difference from them: (index, its description) or -1.
  std::vector<int64_t> ref(static_cast<size_t>(all[0]) * kDescLen);
  if (pg.rank() == 0) ref = flat;
  comm::CollectiveOptions o;
  o.blocking = true;
  if (!ref.empty()) pg.broadcast(ref.data(), ref.size(), DType::Int64, 0, o)->wait();
  std::vector<int64_t> diff(1 + kDescLen, -1);
  const size_t common = std::min<size_t>(tensors.size(), static_cast<size_t>(all[0]));
  for (size_t i = 0; i < common && diff[0] < 0; ++i)
    if (!std::equal(flat.begin() + i * kDescLen, flat.begin() + (i + 1) * kDescLen, ref.begin() + i * kDescLen)) {
      diff[0] = static_cast<int64_t>(i);
      std::copy(flat.begin() + i * kDescLen, flat.begin() + (i + 1) * kDescLen, diff.begin() + 1);
    }
  if (diff[0] < 0 && tensors.size() != static_cast<size_t>(all[0])) diff[0] = static_cast<int64_t>(common);
  std::vector<int64_t> diffs(static_cast<size_t>(n) * (1 + kDescLen));
  all_gather(pg, diff.data(), diffs.data(), diff.size());

  // "parameters" -> "parameter", "buffers" -> "buffer"
  const std::string item = what.size() > 1 && what.back() == 's' ? what.substr(0, what.size() - 1) : what;
  for (int r = 1; r < n; ++r) {
    const int64_t* d = diffs.data() + static_cast<size_t>(r) * (1 + kDescLen);
    const int64_t count_r = all[2 * r], count_0 = all[0];
    if (d[0] < 0 && count_r == count_0) continue;  // equal descriptions (a hash collision with rank 0's list)
    if (d[0] < 0 || d[0] >= std::min(count_r, count_0)) {
      ICCRT_CHECK_VALUE(false, "DistributedDataParallel: the ", what, " differ across ranks: rank ", r, " has ",
                        count_r, " ", what, " but rank 0 has ", count_0,
                        " (every rank must build the same model, in the same order)");
    }
    const size_t i = static_cast<size_t>(d[0]);
    const std::string name = i < names.size() ? detail::str(" ('", names[i], "')") : std::string();
    ICCRT_CHECK_VALUE(false, "DistributedDataParallel: the ", what, " differ across ranks: ", item, " ", i, name,
                      " has ", text(d + 1), " on rank ", r, " but ", text(ref.data() + i * kDescLen),
                      " on rank 0 (every rank must build the same model, in the same order)");
  }
}

void broadcast_coalesced(comm::ProcessGroup& pg, const std::vector<Tensor>& tensors, int root) {
  if (pg.size() == 1) return;
  autograd::NoGradGuard no_grad;
  constexpr int64_t kChunkBytes = int64_t{32} << 20;
  // Tensors of one (dtype, device) in list order, cut into flat chunks of about kChunkBytes; same on every rank.
  std::vector<bool> done(tensors.size(), false);
  for (size_t first = 0; first < tensors.size(); ++first) {
    if (done[first] || !tensors[first].defined()) continue;
    const DType dt = tensors[first].dtype();
    const Device dev = tensors[first].device();
    std::vector<size_t> chunk;
    int64_t numel = 0;
    auto flush = [&] {
      if (chunk.empty()) return;
      Tensor flat = empty({numel}, TensorOptions(dt, dev));
      int64_t off = 0;
      if (pg.rank() == root)
        for (size_t i : chunk) {
          flat.narrow(0, off, tensors[i].numel()).copy_(tensors[i].reshape({-1}));
          off += tensors[i].numel();
        }
      pg.broadcast(flat, root)->wait();
      off = 0;
      if (pg.rank() != root)
        for (size_t i : chunk) {
          Tensor dst = tensors[i];
          dst.copy_(flat.narrow(0, off, dst.numel()).view(dst.shape()));
          off += dst.numel();
        }
      chunk.clear();
      numel = 0;
    };
    for (size_t i = first; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      if (done[i] || !t.defined() || t.dtype() != dt || t.device() != dev) continue;
      if (numel > 0 && (numel + t.numel()) * t.itemsize() > kChunkBytes) flush();
      chunk.push_back(i);
      numel += t.numel();
      done[i] = true;
    }
    flush();
  }
}

}  // namespace iccrt::parallel
