#include "bench_report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace iccrt::bench {

namespace {

// Column widths; the header lines are built from the same numbers so they stay aligned with the rows.
constexpr int kPrefix = 12 + 2 + 12 + 2 + 8 + 2 + 6 + 2 + 6;  // size, count, type, redop, root
constexpr int kGroup = 2 + 8 + 2 + 7 + 2 + 7 + 2 + 6;         // time, algbw, busbw, #wrong

std::string centered(const std::string& s, int width) {
  const int left = (width - static_cast<int>(s.size())) / 2;
  std::string out(static_cast<size_t>(std::max(left, 0)), ' ');
  out += s;
  out.resize(static_cast<size_t>(std::max(width, static_cast<int>(out.size()))), ' ');
  return out;
}

std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = static_cast<double>(b);
  while (v >= 1024 && u < 4 && static_cast<uint64_t>(v) % 1024 == 0) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g %s", v, units[u]);
  return buf;
}

// nccl-tests' time format: fewer decimals as the number grows.
std::string time_str(double us) {
  char buf[32];
  if (us >= 10000.0) {
    std::snprintf(buf, sizeof buf, "%.0f", us);
  } else if (us >= 100.0) {
    std::snprintf(buf, sizeof buf, "%.1f", us);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", us);
  }
  return buf;
}

const char* redop_column(const Options& o) { return is_reduction(o.collective) ? comm::to_string(o.op) : "none"; }
int root_column(const Options& o) { return has_root(o.collective) ? o.root : -1; }

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void json_measurement(std::ostream& os, const Measurement& m) {
  if (!m.ran) {
    os << "null";
    return;
  }
  os << "{\"time_us\": " << m.time_us << ", \"algbw_gbps\": " << m.algbw << ", \"busbw_gbps\": " << m.busbw
     << ", \"wrong\": ";
  if (m.wrong < 0) {
    os << "null";
  } else {
    os << m.wrong;
  }
  os << "}";
}

}  // namespace

Summary summarize(const std::vector<Row>& rows) {
  Summary s;
  double sum = 0;
  for (const Row& r : rows) {
    for (const Measurement* m : {&r.out_of_place, &r.in_place}) {
      if (!m->ran) continue;
      sum += m->busbw;
      ++s.measured;
      if (m->wrong > 0) s.wrong += m->wrong;
    }
  }
  s.avg_busbw = s.measured ? sum / s.measured : 0;
  return s;
}

void print_header(const Options& o, const World& w, const RunInfo& info) {
  std::printf("# iccrt_bench %s  nranks %d nhosts %d minBytes %" PRIu64 " maxBytes %" PRIu64, o.collective_name.c_str(),
              w.size, w.hosts, o.min_bytes, o.max_bytes);
  if (o.step_factor > 1) {
    std::printf(" step: %" PRIu64 "(factor)", o.step_factor);
  } else {
    std::printf(" step: %" PRIu64 "(bytes)", o.step_bytes);
  }
  std::printf(" warmup iters: %d iters: %d validation: %d blocking: %d\n", o.warmup, o.iters, o.check ? 1 : 0,
              o.blocking ? 1 : 0);
  std::printf("# algorithm : %s\n", info.backend.c_str());
  std::printf("# versions  : %s\n", info.versions.c_str());
  std::printf("# copy bandwidth (one core, memcpy of %s, best of 5): %.2f GB/s\n", human_bytes(info.copy.bytes).c_str(),
              info.copy.gbps);
  if (!info.extra.empty()) std::printf("%s", info.extra.c_str());
  std::printf("# time: the slowest rank's mean per iteration; GB/s = 1e9 bytes/s; busbw factors as nccl-tests\n");
  std::printf("#\n# Using ranks\n");
  for (const std::string& r : info.ranks) std::printf("#  %s\n", r.c_str());
  std::printf("#\n");
  std::printf("#%s%s%s\n", std::string(kPrefix - 1, ' ').c_str(), centered("out-of-place", kGroup).c_str(),
              centered("in-place", kGroup).c_str());
  const char* algo = info.algo_column ? "  algo" : "";
  std::printf("#%11s  %12s  %8s  %6s  %6s  %8s  %7s  %7s  %6s  %8s  %7s  %7s  %6s%s\n", "size", "count", "type",
              "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong", algo);
  std::printf("#%11s  %12s  %8s  %6s  %6s  %8s  %7s  %7s  %6s  %8s  %7s  %7s  %6s\n", "(B)", "(elements)", "", "", "",
              "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
  std::fflush(stdout);
}

void print_row(const Options& o, const RunInfo& info, const Row& row) {
  std::printf("%12zu  %12zu  %8s  %6s  %6d", row.sizes.size_bytes, row.sizes.count, nccl_type_name(o.dtype),
              redop_column(o), root_column(o));
  for (const Measurement* m : {&row.out_of_place, &row.in_place}) {
    if (!m->ran) {
      std::printf("  %8s  %7s  %7s  %6s", "N/A", "N/A", "N/A", "N/A");
      continue;
    }
    const std::string wrong = m->wrong < 0 ? std::string("N/A") : std::to_string(m->wrong);
    std::printf("  %8s  %7.2f  %7.2f  %6s", time_str(m->time_us).c_str(), m->algbw, m->busbw, wrong.c_str());
  }
  if (info.algo_column) std::printf("  %s", row.algo.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

void print_footer(const Options& o, const Summary& s) {
  if (o.check) {
    std::printf("# Out of bounds values : %" PRId64 " %s\n", s.wrong, s.wrong ? "FAILED" : "OK");
  } else {
    std::printf("# Out of bounds values : N/A (-c 0)\n");
  }
  std::printf("# Avg bus bandwidth    : %g \n#\n", s.avg_busbw);
  std::fflush(stdout);
}

void write_json(const std::string& path, const Options& o, const World& w, const RunInfo& info,
                const std::vector<Row>& rows, const Summary& s) {
  std::ostringstream os;
  os.precision(10);
  os << "{\n";
  os << "  \"collective\": \"" << o.collective_name << "\",\n";
  os << "  \"algorithm\": \"" << json_escape(o.algorithm_name) << "\",\n";
  os << "  \"backend\": \"" << json_escape(info.backend) << "\",\n";
  os << "  \"versions\": \"" << json_escape(info.versions) << "\",\n";
  os << "  \"nranks\": " << w.size << ", \"nhosts\": " << w.hosts << ",\n";
  os << "  \"dtype\": \"" << nccl_type_name(o.dtype) << "\", \"redop\": \"" << redop_column(o)
     << "\", \"root\": " << root_column(o) << ",\n";
  os << "  \"iters\": " << o.iters << ", \"warmup\": " << o.warmup << ", \"check\": " << (o.check ? "true" : "false")
     << ", \"blocking\": " << (o.blocking ? "true" : "false") << ",\n";
  os << "  \"copy_bandwidth\": {\"bytes\": " << info.copy.bytes << ", \"gbps\": " << info.copy.gbps << "},\n";
  os << "  \"rows\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    os << (i ? ",\n" : "\n") << "    {\"size\": " << r.sizes.size_bytes << ", \"count\": " << r.sizes.count
       << ", \"bus_factor\": " << r.sizes.bus_factor << ", \"out_of_place\": ";
    json_measurement(os, r.out_of_place);
    os << ", \"in_place\": ";
    json_measurement(os, r.in_place);
    if (!r.algo.empty()) os << ", \"algo\": \"" << json_escape(r.algo) << "\"";
    os << "}";
  }
  os << "\n  ],\n";
  os << "  \"wrong\": ";
  if (o.check) {
    os << s.wrong;
  } else {
    os << "null";
  }
  os << ",\n  \"avg_busbw_gbps\": " << s.avg_busbw << "\n}\n";
  std::ofstream f(path);
  f << os.str();
  f.close();
  if (!f) throw Error("cannot write --json file '" + path + "'");
}

}  // namespace iccrt::bench
