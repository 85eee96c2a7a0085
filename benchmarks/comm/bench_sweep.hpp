#pragma once
// The measurement loop: for each size, out of place then in place, time `iters` ops after `warmup` ones, then
// (with -c 1) run once more on fresh pattern data and count wrong elements. Collective over MPI_COMM_WORLD.
#include <functional>
#include <vector>

#include "bench_ops.hpp"
#include "bench_report.hpp"

namespace iccrt::bench {

// Runs every size from o.min_bytes to o.max_bytes; `on_row` sees each row as soon as it is measured (every rank
// calls it; rank 0 prints).
std::vector<Row> run_sweep(CommBackend& backend, const Options& o, const World& w,
                           const std::function<void(const Row&)>& on_row);

}  // namespace iccrt::bench
