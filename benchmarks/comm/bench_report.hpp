#pragma once
// iccrt_bench's output: nccl-tests' table (header, one row per size, footer) on rank 0's stdout, and --json.
#include <cstdint>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "bench_options.hpp"
#include "copy_bandwidth.hpp"

namespace iccrt::bench {

struct Measurement {
  bool ran = false;    // false: N/A (this backend has no in-place form of the collective)
  double time_us = 0;  // per iteration; the slowest rank's average
  double algbw = 0;    // GB/s (1e9 bytes)
  double busbw = 0;
  int64_t wrong = -1;  // wrong elements over all ranks; -1: not checked (-c 0)
};

struct Row {
  CollSizes sizes;
  Measurement out_of_place, in_place;
  std::string algo;  // all_reduce with -a auto: iccrt's choice for this size
};

// What the header says besides the options.
struct RunInfo {
  std::string backend;             // CommBackend::describe()
  std::string versions;            // iccrt and MPI library versions
  std::string extra;               // more '#' lines (e.g. CUDA library versions), may be empty
  std::vector<std::string> ranks;  // "Rank  0 Pid 1234 on host" per rank
  CopyBandwidth copy;
  bool algo_column = false;
};

struct Summary {
  int64_t wrong = 0;     // over every checked measurement
  double avg_busbw = 0;  // mean busbw over every measurement that ran, as nccl-tests averages it
  int measured = 0;
};
Summary summarize(const std::vector<Row>& rows);

void print_header(const Options& o, const World& w, const RunInfo& info);
void print_row(const Options& o, const RunInfo& info, const Row& row);
void print_footer(const Options& o, const Summary& s);
// Throws Error when the file cannot be written.
void write_json(const std::string& path, const Options& o, const World& w, const RunInfo& info,
                const std::vector<Row>& rows, const Summary& s);

}  // namespace iccrt::bench
