// iccrt_bench: nccl-tests-style benchmark of iccrt's collectives, with the MPI library's own collectives and NCCL
// as anchors in the same binary, so one mpirun compares them.
//
//   mpirun -np 4 iccrt_bench all_reduce -b 8 -e 256M -f 2 -d float -o sum -a auto -n 20 -w 5 -c 1 [--json FILE]
//
// Exit status: 0 when every check passed, 1 on wrong values or an error, 2 when this machine or build cannot run
// the request (-a nccl without a GPU, float16 reductions with -a mpi), CLI11's codes for bad arguments.
#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench_ops.hpp"
#include "bench_report.hpp"
#include "bench_sweep.hpp"
#include "copy_bandwidth.hpp"
#include "iccrt/core/config.hpp"

namespace iccrt::bench {
namespace {

constexpr size_t kCopyBytes = size_t{256} << 20;

World discover_world() {
  World w;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &w.local_rank);
  MPI_Comm_size(local, &w.local_size);
  MPI_Comm_free(&local);
  int leader = w.local_rank == 0 ? 1 : 0;
  MPI_Allreduce(&leader, &w.hosts, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return w;
}

// "Rank  0 Pid  1234 on host" for every rank, on rank 0.
std::vector<std::string> rank_lines(const World& w, const std::string& device) {
  constexpr int kLen = 256;
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  char mine[kLen] = {};
  std::snprintf(mine, kLen, "Rank %2d Pid %7d on %s%s%s", w.rank, static_cast<int>(getpid()), host,
                device.empty() ? "" : " device ", device.c_str());
  std::vector<char> all(static_cast<size_t>(kLen) * static_cast<size_t>(w.size));
  MPI_Gather(mine, kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> lines;
  if (w.rank == 0) {
    for (int r = 0; r < w.size; ++r) lines.emplace_back(&all[static_cast<size_t>(r) * kLen]);
  }
  return lines;
}

// Rank 0 copies alone while the others wait without spinning (a spinning rank would share rank 0's core when
// ranks outnumber cores).
CopyBandwidth copy_bandwidth_on_rank0(const World& w) {
  CopyBandwidth copy;
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) copy = measure_copy_bandwidth(kCopyBytes, 5);
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  for (int done = 0; !done;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) {
      const timespec ms{0, 1000 * 1000};
      nanosleep(&ms, nullptr);
    }
  }
  return copy;
}

// The CUDA lines of iccrt's build description (driver, runtime, NCCL versions) for -a nccl.
std::string cuda_lines() {
  std::istringstream in(build_config());
  std::string line, out;
  while (std::getline(in, line)) {
    const size_t p = line.find_first_not_of(' ');
    if (p != std::string::npos && line.compare(p, 4, "cuda") == 0) out += "# " + line.substr(p) + "\n";
  }
  return out;
}

int run(const Options& o, const World& w, int thread_level) {
  RunInfo info;
  info.copy = copy_bandwidth_on_rank0(w);
  std::unique_ptr<CommBackend> backend = make_backend(o, w);
  info.backend = backend->describe();
  info.versions = std::string("iccrt ") + version() + ", " + mpi_library_version();
  info.versions +=
      thread_level >= MPI_THREAD_MULTIPLE ? ", MPI_THREAD_MULTIPLE" : ", WARNING: MPI_THREAD_MULTIPLE not provided";
  if (o.backend == Backend::Nccl) info.extra = cuda_lines();
  info.ranks = rank_lines(w, backend->device().is_cuda() ? backend->device().str() : "");
  info.algo_column = !backend->auto_choice(0).empty();

  if (w.rank == 0) print_header(o, w, info);
  const std::vector<Row> rows = run_sweep(*backend, o, w, [&](const Row& row) {
    if (w.rank == 0) print_row(o, info, row);
  });
  backend.reset();  // leaves the ProcessGroup (before MPI_Finalize)
  const Summary s = summarize(rows);
  if (w.rank == 0) {
    print_footer(o, s);
    if (!o.json_path.empty()) write_json(o.json_path, o, w, info, rows, s);
  }
  return s.wrong > 0 ? 1 : 0;
}

const std::map<std::string, DType>& dtypes_by_name() {
  static const std::map<std::string, DType> m = {
      {"float", DType::Float32},     {"float32", DType::Float32}, {"fp32", DType::Float32},
      {"double", DType::Float64},    {"float64", DType::Float64}, {"fp64", DType::Float64},
      {"half", DType::Float16},      {"float16", DType::Float16}, {"fp16", DType::Float16},
      {"bfloat16", DType::BFloat16}, {"bf16", DType::BFloat16},   {"int32", DType::Int32},
      {"int", DType::Int32},         {"int64", DType::Int64}};
  return m;
}

// nccl-tests' names first (the help lists them in this order).
std::vector<std::string> dtype_names() {
  return {"float", "double",  "half", "bfloat16", "int32", "int64", "float32",
          "fp32",  "float64", "fp64", "float16",  "fp16",  "bf16",  "int"};
}

void define_options(CLI::App& app, Options& o) {
  static const std::vector<std::string> collectives = {"all_reduce", "all_gather", "reduce_scatter", "broadcast",
                                                       "reduce",     "all_to_all", "sendrecv"};
  app.add_option("collective", o.collective_name, "The collective to measure")
      ->required()
      ->check(CLI::IsMember(collectives));
  app.add_option("-b,--minbytes", o.min_bytes, "Smallest size in bytes (K, M, G suffixes are powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("-e,--maxbytes", o.max_bytes, "Largest size in bytes")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("-f,--stepfactor", o.step_factor, "Multiply the size by this between rows (1: add --stepbytes)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20))
      ->capture_default_str();
  app.add_option("-i,--stepbytes", o.step_bytes, "Add this many bytes between rows when --stepfactor is 1")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("-d,--datatype", o.dtype_name,
                 "Element type; aliases float32/fp32, float64/fp64, float16/fp16, bf16, int")
      ->check(CLI::IsMember(dtype_names(), CLI::ignore_case))
      ->capture_default_str();
  app.add_option("-o,--op", o.op_name, "Reduction")
      ->check(CLI::IsMember({"sum", "prod", "min", "max", "avg"}, CLI::ignore_case))
      ->capture_default_str();
  app.add_option("-a,--algorithm", o.algorithm_name,
                 "iccrt algorithm (ring, tree, rhd, rd, direct, hierarchical, auto), or an anchor: mpi (the MPI "
                 "library's collectives), nccl (NCCL on CUDA tensors)")
      ->check(CLI::IsMember({"ring", "tree", "rhd", "rd", "direct", "hierarchical", "auto", "mpi", "nccl"},
                            CLI::ignore_case))
      ->capture_default_str();
  app.add_option("-n,--iters", o.iters, "Timed iterations per size")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  app.add_option("-w,--warmup_iters", o.warmup, "Untimed iterations before each size")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  app.add_option("-c,--check", o.check, "Check the results (0/1): the #wrong columns")->capture_default_str();
  app.add_option("-z,--blocking", o.blocking,
                 "1: wait for each op before starting the next; 0: start all iterations, then wait")
      ->capture_default_str();
  app.add_option("-r,--root", o.root, "Root rank of broadcast and reduce")->capture_default_str();
  app.add_option("--transport", o.transport, "iccrt transport between co-located ranks")
      ->check(CLI::IsMember({"auto", "shm", "mpi"}))
      ->capture_default_str();
  app.add_option("--json", o.json_path, "Also write every row to this file (JSON)");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Cross-option checks CLI11 cannot express, and the derived fields.
void finish_options(Options& o, const World& w) {
  static const std::map<std::string, Collective> by_name = {{"all_reduce", Collective::AllReduce},
                                                            {"all_gather", Collective::AllGather},
                                                            {"reduce_scatter", Collective::ReduceScatter},
                                                            {"broadcast", Collective::Broadcast},
                                                            {"reduce", Collective::Reduce},
                                                            {"all_to_all", Collective::AllToAll},
                                                            {"sendrecv", Collective::SendRecv}};
  o.collective = by_name.at(o.collective_name);
  o.dtype = dtypes_by_name().at(lower(o.dtype_name));
  o.op = comm::parse_reduce_op(o.op_name);
  if (o.min_bytes > o.max_bytes) {
    throw CLI::ValidationError(
        "--minbytes", "-b " + std::to_string(o.min_bytes) + " is larger than -e " + std::to_string(o.max_bytes));
  }
  if (o.step_factor == 1 && o.step_bytes == 0) throw CLI::ValidationError("--stepbytes", "must be at least 1");
  if (o.root < 0 || o.root >= w.size) {
    throw CLI::ValidationError("--root", "root " + std::to_string(o.root) + " is not a rank of the " +
                                             std::to_string(w.size) + "-rank launch");
  }
  o.algorithm_name = lower(o.algorithm_name);
  if (o.algorithm_name == "mpi") {
    o.backend = Backend::Mpi;
  } else if (o.algorithm_name == "nccl") {
    o.backend = Backend::Nccl;
  } else {
    o.backend = Backend::Iccrt;
    o.algorithm = comm::parse_algorithm(o.algorithm_name);
  }
}

}  // namespace
}  // namespace iccrt::bench

int main(int argc, char** argv) {
  using namespace iccrt::bench;
  int thread_level = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &thread_level) != MPI_SUCCESS) {
    std::fprintf(stderr, "iccrt_bench: error: MPI_Init_thread failed\n");
    return 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const World world = discover_world();

  Options opts;
  CLI::App app{"iccrt_bench: nccl-tests-style collective benchmark of iccrt, MPI and NCCL", "iccrt_bench"};
  define_options(app, opts);
  try {
    app.parse(argc, argv);
    finish_options(opts, world);
  } catch (const CLI::ParseError& e) {
    std::ostringstream quiet;  // every rank parses the same arguments; rank 0 speaks
    const int rc = world.rank == 0 ? app.exit(e) : app.exit(e, quiet, quiet);
    MPI_Finalize();
    return rc;
  }

  int rc = 0;
  try {
    rc = run(opts, world, thread_level);
  } catch (const Unsupported& e) {
    if (world.rank == 0) std::fprintf(stderr, "iccrt_bench: error: %s\n", e.what());
    rc = 2;
  } catch (const iccrt::comm::CommError& e) {
    // Failures of a collective differ by rank (each message names its rank and what it waited for): every
    // rank reports its own.
    std::fprintf(stderr, "iccrt_bench: error: %s\n", e.what());
    rc = 1;
  } catch (const std::exception& e) {
    // Argument and support errors are the same on every rank.
    if (world.rank == 0) std::fprintf(stderr, "iccrt_bench: error: %s\n", e.what());
    rc = 1;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Finalize();
  return rc;
}
