// safetensors checkpoints: see include/iccrt/io/safetensors.hpp for the format and the guarantees.
//
// Note [Reading untrusted checkpoints]: nothing in a file is trusted until it is checked against the file's own
// size. The header length is bounded (100 MB, the reference implementation's limit) and must fit in the file;
// the header is read by a pull parser that keeps only what the schema asks for (names, at most kMaxDims
// dimensions, two offsets, metadata strings), so a hostile header costs at most a small multiple of its size;
// every tensor's byte count must equal its data_offsets span, and the spans must tile the data region exactly.
// Only then is any tensor allocated, so allocations never exceed the file size.
#include "iccrt/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string_view>
#include <system_error>
#include <utility>

#include "src/io/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors stores little-endian data; iccrt writes tensor memory as it is");

namespace iccrt {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxJsonDepth = 4;                 // the header nests 3 levels: {name: {"shape": [...]}}
constexpr size_t kMaxIoChunk = size_t{1} << 30;  // Linux transfers at most ~2 GiB per read/write call

// A header that parses but breaks the format; load_safetensors adds the path and the common prefix.
class Malformed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string sys_error(int err) { return std::error_code(err, std::generic_category()).message(); }

// A name for an error message: quoted, control characters escaped, cut short when long (names come from files).
std::string show(std::string_view name) {
  constexpr size_t kMax = 80;
  if (name.size() <= kMax) return detail::json::quote(name);
  return detail::json::quote(name.substr(0, kMax)) + "...";
}

const char* format_dtype(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Float16:
      return "F16";
    case DType::BFloat16:
      return "BF16";
    case DType::Int32:
      return "I32";
    case DType::Int64:
      return "I64";
    case DType::UInt8:
      return "U8";
    case DType::Bool:
      return "BOOL";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  static constexpr DType kAll[] = {DType::Float32, DType::Float64,  DType::Int32, DType::Int64,
                                   DType::Float16, DType::BFloat16, DType::UInt8, DType::Bool};
  for (DType t : kAll) {
    if (s == format_dtype(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// ---------------------------------------------------------------------------------------------------------------
// writing

void write_all(int fd, const void* data, size_t n, const std::string& file) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::write(fd, p, std::min(n, kMaxIoChunk));
    if (k < 0 && errno == EINTR) continue;
    ICCRT_CHECK(k > 0, "save_safetensors: cannot write '", file, "': ", k < 0 ? sys_error(errno) : "no progress");
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void put_le64(uint64_t v, unsigned char out[8]) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Validates the arguments and returns the header JSON, padded so that the data starts 8-byte aligned.
std::string build_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<std::string_view> names;
  names.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    ICCRT_CHECK_VALUE(t.defined(), "save_safetensors: tensor ", show(name), " is undefined");
    ICCRT_CHECK_VALUE(name != "__metadata__",
                      "save_safetensors: \"__metadata__\" is reserved and cannot name a tensor");
    ICCRT_CHECK_VALUE(detail::json::valid_utf8(name), "save_safetensors: tensor name ", show(name),
                      " is not valid UTF-8");
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  const auto dup = std::adjacent_find(names.begin(), names.end());
  ICCRT_CHECK_VALUE(dup == names.end(), "save_safetensors: duplicate tensor name ",
                    dup == names.end() ? "" : show(*dup));

  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      ICCRT_CHECK_VALUE(detail::json::valid_utf8(k) && detail::json::valid_utf8(v), "save_safetensors: metadata entry ",
                        show(k), " is not valid UTF-8");
      h += first ? "" : ",";
      h += detail::json::quote(k) + ":" + detail::json::quote(v);
      first = false;
    }
    h += "}";
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (h.size() > 1) h += ",";
    h += detail::json::quote(name) + ":{\"dtype\":\"" + format_dtype(t.dtype()) + "\",\"shape\":[";
    for (int64_t d = 0; d < t.dim(); ++d) h += (d ? "," : "") + std::to_string(t.size(d));
    const uint64_t end = offset + static_cast<uint64_t>(t.nbytes());
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');  // 8 (length field) + header stays a multiple of 8
  return h;
}

// The temporary file a save writes; removed unless the rename over the destination succeeded.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)), fd_(-1) {
    do {
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    } while (fd_ < 0 && errno == EINTR);
    ICCRT_CHECK(fd_ >= 0, "save_safetensors: cannot create '", path_, "': ", sys_error(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!kept_) ::unlink(path_.c_str());  // already failing: the original error is the one to report
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // fsync then close, both checked: close can report a deferred write error (NFS, quotas).
  void sync_and_close() {
    ICCRT_CHECK(::fsync(fd_) == 0, "save_safetensors: cannot sync '", path_, "': ", sys_error(errno));
    const int fd = std::exchange(fd_, -1);
    ICCRT_CHECK(::close(fd) == 0, "save_safetensors: cannot close '", path_, "': ", sys_error(errno));
  }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  int fd_;
  bool kept_ = false;
};

// Makes the rename durable. Some file systems cannot fsync a directory (EINVAL); the file itself is synced.
void sync_parent_directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ICCRT_CHECK(fd.get() >= 0, "save_safetensors: cannot open directory '", dir, "': ", sys_error(errno));
  ICCRT_CHECK(::fsync(fd.get()) == 0 || errno == EINVAL, "save_safetensors: cannot sync directory '", dir,
              "': ", sys_error(errno));
}

// ---------------------------------------------------------------------------------------------------------------
// reading

struct Entry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

void read_exact(int fd, void* dst, size_t n, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t k = ::pread(fd, p, std::min(n, kMaxIoChunk), static_cast<off_t>(offset));
    if (k < 0 && errno == EINTR) continue;
    ICCRT_CHECK(k >= 0, "load_safetensors: cannot read '", path, "': ", sys_error(errno));
    if (k == 0) throw Malformed("the file ended early (truncated while being read?)");
    p += k;
    offset += static_cast<uint64_t>(k);
    n -= static_cast<size_t>(k);
  }
}

int64_t read_dim(detail::json::Reader& r, const std::string& what) {
  const auto kind = r.peek();
  if (kind != detail::json::Kind::Number)
    throw Malformed(what + " must hold integers, got a JSON " + detail::json::kind_name(kind));
  const int64_t v = r.read_int64();
  if (v < 0) throw Malformed(what + " holds a negative value " + std::to_string(v));
  return v;
}

void expect_kind(detail::json::Reader& r, detail::json::Kind want, const std::string& what) {
  const auto got = r.peek();
  if (got != want)
    throw Malformed(what + " must be a JSON " + detail::json::kind_name(want) + ", got " +
                    detail::json::kind_name(got));
}

Entry parse_entry(detail::json::Reader& r, std::string name) {
  using detail::json::Kind;
  Entry e;
  e.name = std::move(name);
  const std::string who = "tensor " + show(e.name);
  expect_kind(r, Kind::Object, who);
  r.begin_object();
  bool has_dtype = false, has_shape = false, has_offsets = false;
  std::string key;
  while (r.next_member(&key)) {
    const auto once = [&](bool* seen) {
      if (*seen) throw Malformed(who + ": duplicate key " + show(key));
      *seen = true;
    };
    if (key == "dtype") {
      once(&has_dtype);
      expect_kind(r, Kind::String, who + ": \"dtype\"");
      const std::string s = r.read_string();
      if (!parse_dtype(s, &e.dtype)) throw Malformed(who + ": unsupported dtype " + show(s));
    } else if (key == "shape") {
      once(&has_shape);
      expect_kind(r, Kind::Array, who + ": \"shape\"");
      r.begin_array();
      while (r.next_item()) {
        if (static_cast<int>(e.shape.size()) == kMaxDims)
          throw Malformed(who + ": \"shape\" has more than " + std::to_string(kMaxDims) + " dimensions");
        e.shape.push_back(read_dim(r, who + ": \"shape\""));
      }
    } else if (key == "data_offsets") {
      once(&has_offsets);
      expect_kind(r, Kind::Array, who + ": \"data_offsets\"");
      r.begin_array();
      std::vector<int64_t> v;
      while (r.next_item()) {
        if (v.size() == 2) throw Malformed(who + ": \"data_offsets\" must hold exactly 2 integers");
        v.push_back(read_dim(r, who + ": \"data_offsets\""));
      }
      if (v.size() != 2) throw Malformed(who + ": \"data_offsets\" must hold exactly 2 integers");
      e.begin = static_cast<uint64_t>(v[0]);
      e.end = static_cast<uint64_t>(v[1]);
      if (e.end < e.begin)
        throw Malformed(who + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                        "] end before they begin");
    } else {
      throw Malformed(who + ": unknown key " + show(key));
    }
  }
  if (!has_dtype) throw Malformed(who + ": missing key \"dtype\"");
  if (!has_shape) throw Malformed(who + ": missing key \"shape\"");
  if (!has_offsets) throw Malformed(who + ": missing key \"data_offsets\"");

  int64_t numel = 1, nbytes = 0;
  for (int64_t d : e.shape)
    if (__builtin_mul_overflow(numel, d, &numel)) throw Malformed(who + ": shape has too many elements");
  if (__builtin_mul_overflow(numel, itemsize(e.dtype), &nbytes)) throw Malformed(who + ": shape has too many elements");
  if (static_cast<uint64_t>(nbytes) != e.end - e.begin) {
    std::string shape;
    for (size_t i = 0; i < e.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(e.shape[i]);
    throw Malformed(who + ": shape [" + shape + "] of " + format_dtype(e.dtype) + " needs " + std::to_string(nbytes) +
                    " bytes but data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " +
                    std::to_string(e.end - e.begin));
  }
  return e;
}

void parse_metadata(detail::json::Reader& r, std::map<std::string, std::string>* metadata) {
  using detail::json::Kind;
  expect_kind(r, Kind::Object, "\"__metadata__\"");
  r.begin_object();
  std::string key;
  while (r.next_member(&key)) {
    expect_kind(r, Kind::String, "metadata value for key " + show(key));
    if (!metadata->emplace(key, r.read_string()).second) throw Malformed("duplicate metadata key " + show(key));
  }
}

// Parses the header and checks the entries against each other and against the data region's size; returns the
// entries in data order.
std::vector<Entry> parse_header(std::string_view text, uint64_t data_bytes,
                                std::map<std::string, std::string>* metadata) {
  detail::json::Reader r(text, kMaxJsonDepth);
  std::vector<Entry> entries;
  try {
    expect_kind(r, detail::json::Kind::Object, "the header");
    r.begin_object();
    bool has_metadata = false;
    std::string key;
    while (r.next_member(&key)) {
      if (key == "__metadata__") {
        if (has_metadata) throw Malformed("duplicate key \"__metadata__\"");
        has_metadata = true;
        parse_metadata(r, metadata);
      } else {
        entries.push_back(parse_entry(r, std::move(key)));
      }
    }
    r.finish();
  } catch (const detail::json::ParseError& e) {
    throw Malformed(std::string("invalid JSON in the header ") + e.what());
  }

  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entries[a].name < entries[b].name; });
  for (size_t i = 1; i < order.size(); ++i)
    if (entries[order[i]].name == entries[order[i - 1]].name)
      throw Malformed("duplicate tensor name " + show(entries[order[i]].name));

  for (const Entry& e : entries)
    if (e.end > data_bytes)
      throw Malformed("tensor " + show(e.name) + ": data_offsets end at " + std::to_string(e.end) +
                      ", past the end of the data (" + std::to_string(data_bytes) + " bytes)");
  // Zero-size tensors may share a begin with the next tensor; sorting by (begin, end) keeps them first.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::make_pair(entries[a].begin, entries[a].end) < std::make_pair(entries[b].begin, entries[b].end);
  });
  uint64_t covered = 0;
  for (size_t i : order) {
    const Entry& e = entries[i];
    if (e.begin < covered)
      throw Malformed("tensor " + show(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " +
                      std::to_string(e.end) + "] overlap the previous tensor, which ends at " +
                      std::to_string(covered));
    if (e.begin > covered)
      throw Malformed("tensor " + show(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " +
                      std::to_string(e.end) + "] leave a gap after byte " + std::to_string(covered));
    covered = e.end;
  }
  if (covered != data_bytes)
    throw Malformed("the data region holds " + std::to_string(data_bytes) + " bytes but the tensors cover only " +
                    std::to_string(covered));

  std::vector<Entry> sorted;
  sorted.reserve(entries.size());
  for (size_t i : order) sorted.push_back(std::move(entries[i]));
  return sorted;
}

TensorFile load_checked(int fd, const std::string& path, Device device) {
  struct stat st;
  ICCRT_CHECK(::fstat(fd, &st) == 0, "load_safetensors: cannot stat '", path, "': ", sys_error(errno));
  if (!S_ISREG(st.st_mode)) throw Malformed("not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) throw Malformed("the file has " + std::to_string(size) + " bytes, fewer than the 8-byte header length");

  unsigned char len_bytes[8];
  read_exact(fd, len_bytes, 8, 0, path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes)
    throw Malformed("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                    " bytes");
  if (n > size - 8)
    throw Malformed("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
                    " bytes)");
  std::string header(static_cast<size_t>(n), '\0');
  read_exact(fd, header.data(), header.size(), 8, path);

  TensorFile out;
  const uint64_t data_start = 8 + n;
  const std::vector<Entry> entries = parse_header(header, size - data_start, &out.metadata);
  header = std::string();

  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, TensorOptions(e.dtype, kCPU));
    read_exact(fd, t.data_ptr(), static_cast<size_t>(e.end - e.begin), data_start + e.begin, path);
    if (e.dtype == DType::Bool) {
      // A bool must hold 0 or 1; other bytes from a foreign writer read as true.
      auto* b = static_cast<unsigned char*>(t.data_ptr());
      for (int64_t i = 0, m = t.numel(); i < m; ++i) b[i] = b[i] != 0;
    }
    if (device != kCPU) t = t.to(device);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string header = build_header(tensors, metadata);
  TempFile tmp(path + ".tmp." + std::to_string(::getpid()));
  unsigned char len_bytes[8];
  put_le64(header.size(), len_bytes);
  write_all(tmp.fd(), len_bytes, 8, tmp.path());
  write_all(tmp.fd(), header.data(), header.size(), tmp.path());
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    // One host copy at a time, so a CUDA checkpoint never needs all of its data on the host at once.
    const Tensor host = t.device().is_cpu() ? t.contiguous() : t.to(kCPU);
    write_all(tmp.fd(), host.data_ptr(), static_cast<size_t>(host.nbytes()), tmp.path());
  }
  tmp.sync_and_close();
  ICCRT_CHECK(::rename(tmp.path().c_str(), path.c_str()) == 0, "save_safetensors: cannot rename '", tmp.path(),
              "' to '", path, "': ", sys_error(errno));
  tmp.keep();
  sync_parent_directory(path);
}

TensorFile load_safetensors(const std::string& path, Device device) {
  int raw;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (raw < 0 && errno == EINTR);
  ICCRT_CHECK(raw >= 0, "load_safetensors: cannot open '", path, "': ", sys_error(errno));
  Fd fd(raw);
  try {
    return load_checked(fd.get(), path, device);
  } catch (const Malformed& e) {
    throw ValueError("load_safetensors: '" + path + "': not a valid safetensors file: " + e.what());
  }
}

}  // namespace iccrt
