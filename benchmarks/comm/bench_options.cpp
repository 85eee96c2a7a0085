#include "bench_options.hpp"

namespace iccrt::bench {

const char* to_string(Collective c) {
  switch (c) {
    case Collective::AllReduce:
      return "all_reduce";
    case Collective::AllGather:
      return "all_gather";
    case Collective::ReduceScatter:
      return "reduce_scatter";
    case Collective::Broadcast:
      return "broadcast";
    case Collective::Reduce:
      return "reduce";
    case Collective::AllToAll:
      return "all_to_all";
    case Collective::SendRecv:
      return "sendrecv";
  }
  return "?";
}

bool is_reduction(Collective c) {
  return c == Collective::AllReduce || c == Collective::ReduceScatter || c == Collective::Reduce;
}

bool has_root(Collective c) { return c == Collective::Broadcast || c == Collective::Reduce; }

const char* nccl_type_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float";
    case DType::Float64:
      return "double";
    case DType::Float16:
      return "half";
    case DType::BFloat16:
      return "bfloat16";
    default:
      return dtype_name(t);
  }
}

}  // namespace iccrt::bench
