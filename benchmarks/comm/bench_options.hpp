#pragma once
// What one iccrt_bench run measures: the command line, parsed (bench_main.cpp), and the vocabulary shared by the
// other files of the benchmark.
#include <cstddef>
#include <cstdint>
#include <string>

#include "iccrt/comm/types.hpp"
#include "iccrt/core/dtype.hpp"

namespace iccrt::bench {

enum class Collective { AllReduce, AllGather, ReduceScatter, Broadcast, Reduce, AllToAll, SendRecv };

// Who runs the collective: iccrt's own algorithms (CPU buffers), the MPI library's collectives on
// MPI_COMM_WORLD (the anchor), or NCCL through iccrt's ProcessGroup (CUDA tensors).
enum class Backend { Iccrt, Mpi, Nccl };

struct Options {
  Collective collective = Collective::AllReduce;
  std::string collective_name = "all_reduce";
  uint64_t min_bytes = 32 << 20;
  uint64_t max_bytes = 32 << 20;
  uint64_t step_factor = 1;       // > 1: sizes multiply by it
  uint64_t step_bytes = 1 << 20;  // step_factor == 1: sizes grow by this
  std::string dtype_name = "float";
  DType dtype = DType::Float32;
  std::string op_name = "sum";
  comm::ReduceOp op = comm::ReduceOp::Sum;
  std::string algorithm_name = "auto";
  Backend backend = Backend::Iccrt;
  comm::Algorithm algorithm = comm::Algorithm::Auto;  // Backend::Iccrt only
  int iters = 20;
  int warmup = 5;
  bool check = true;
  bool blocking = true;  // wait for each op before starting the next; false: start all, then wait (like NCCL)
  int root = 0;
  std::string transport = "auto";  // ProcessGroupOptions::transport
  std::string json_path;
};

// Where this process sits in the MPI launch (bench_main.cpp fills it in).
struct World {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // among the ranks that share this machine's memory
  int hosts = 1;
};

// A run that this machine or build cannot do (no GPU for -a nccl, float16 reductions with MPI): exit status 2.
class Unsupported : public Error {
 public:
  using Error::Error;
};

const char* to_string(Collective c);
bool is_reduction(Collective c);  // takes a reduce op
bool has_root(Collective c);
// nccl-tests' name of a dtype: float, double, half, bfloat16, int32, int64.
const char* nccl_type_name(DType t);

}  // namespace iccrt::bench
