// TcpStore: a key-value rendezvous server that runs on a background thread of one process (is_server), and a
// client that every rank uses, the server's own process included.
//
// Note [TcpStore wire protocol]
// Every message is a frame: u32 body length, then the body. Integers are little-endian; a string is a u32 length
// and its bytes. Request bodies start with an op byte:
//   Hello  magic u32, version u32, token str        (must be the first frame; anything else closes the connection)
//   Set    key str, value str                       Get   timeout_ms u32, key str
//   Add    key str, delta i64                       Check n u32, n x key str
//   Wait   timeout_ms u32, n u32, n x key str       Erase key str
// Response bodies start with a status byte: Ok (then the op's result: Get a str, Add an i64, Check a u8),
// Timeout (n u32, n x missing key str) or ValueError (message str).
// get / wait are answered by the server when their keys appear, or with Timeout when timeout_ms passes; the
// client also keeps its own, slightly later deadline so a hung server cannot hang it.
//
// Why the server never trusts a peer: it listens on every interface, so strays (port scanners, another job that
// reuses the port) reach it. Before the Hello a frame may hold at most kMaxHelloFrame bytes; after it, kMaxFrame.
// A body's buffer grows only as its bytes arrive, so a length field alone allocates at most 64 KiB. A client sends one
// request and reads its answer before the next, so bytes arriving while an answer is pending, an unknown op, a
// short or over-long field, or a key over kMaxKeyBytes close that one connection and nothing else.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "iccrt/comm/store.hpp"

namespace iccrt::comm {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint32_t kMagic = 0x54534349;  // "ICST"
constexpr uint32_t kVersion = 1;
constexpr size_t kMaxKey = TcpStore::kMaxKeyBytes;
constexpr size_t kMaxFrame = TcpStore::kMaxValueBytes + TcpStore::kMaxKeyBytes + 64;
constexpr size_t kMaxHelloFrame = TcpStore::kMaxKeyBytes + 64;
constexpr size_t kFirstChunk = size_t{64} << 10;

enum Op : uint8_t { kHello = 1, kSet, kGet, kAdd, kCheck, kWait, kErase };
enum Status : uint8_t { kOk = 0, kTimeout, kValueError };

[[noreturn]] void throw_errno(const std::string& what, int err) {
  throw CommError(detail::str(what, ": ", std::strerror(err)));
}

std::string seconds_str(milliseconds t) {
  std::ostringstream os;
  os << static_cast<double>(t.count()) / 1000.0 << "s";
  return os.str();
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? ", '" : "'") + keys[i] + "'";
  return out;
}

// poll() timeout for a deadline, rounded up so a loop never spins on a zero timeout just short of it.
int poll_ms(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

// ---- encoding ----

void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& s, const std::string& v) {
  put_u32(s, static_cast<uint32_t>(v.size()));
  s += v;
}
uint32_t load_u32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
// A frame is built in place: begin_frame() leaves room for the length, end_frame() fills it in.
std::string begin_frame(uint8_t first) {
  std::string s(4, '\0');
  s.push_back(static_cast<char>(first));
  return s;
}
void end_frame(std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size() - 4);
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
}

// Reads a body; every accessor fails (returns false) instead of reading past the end.
class Reader {
 public:
  Reader(const char* p, size_t n) : p_(reinterpret_cast<const unsigned char*>(p)), n_(n) {}
  explicit Reader(const std::string& s) : Reader(s.data(), s.size()) {}
  bool u8(uint8_t& v) {
    if (n_ < 1) return false;
    v = *p_++, --n_;
    return true;
  }
  bool u32(uint32_t& v) {
    if (n_ < 4) return false;
    v = load_u32(p_), p_ += 4, n_ -= 4;
    return true;
  }
  bool i64(int64_t& v) {
    if (n_ < 8) return false;
    uint64_t u = uint64_t{load_u32(p_)} | uint64_t{load_u32(p_ + 4)} << 32;
    std::memcpy(&v, &u, 8);
    p_ += 8, n_ -= 8;
    return true;
  }
  bool str(std::string& v, size_t max) {
    uint32_t len;
    if (!u32(len) || len > max || len > n_) return false;
    v.assign(reinterpret_cast<const char*>(p_), len);
    p_ += len, n_ -= len;
    return true;
  }
  bool keys(std::vector<std::string>& out) {
    uint32_t n;
    if (!u32(n)) return false;
    for (uint32_t i = 0; i < n; ++i) {  // no reserve(n): n comes from the peer
      std::string k;
      if (!str(k, kMaxKey)) return false;
      out.push_back(std::move(k));
    }
    return true;
  }
  bool at_end() const { return n_ == 0; }

 private:
  const unsigned char* p_;
  size_t n_;
};

// Counters are decimal text so that get() of a counter reads the same from every store (see hash_store.cpp).
bool add_to(std::string* stored, int64_t delta, int64_t* result, std::string* error) {
  int64_t current = 0;
  if (stored) {
    auto [end, ec] = std::from_chars(stored->data(), stored->data() + stored->size(), current);
    if (stored->empty() || ec != std::errc() || end != stored->data() + stored->size()) {
      *error = "the stored value is not an integer";
      return false;
    }
  }
  if (__builtin_add_overflow(current, delta, result)) {
    *error = detail::str("adding ", delta, " to ", current, " overflows int64");
    return false;
  }
  return true;
}

// ================================================================ server

class StoreServer {
 public:
  StoreServer(int port, std::string token);
  ~StoreServer();
  int port() const { return port_; }

 private:
  struct Conn {
    explicit Conn(int f) : fd(f) {}
    ~Conn() { ::close(fd); }
    int fd;
    bool authed = false, dead = false;
    unsigned char hdr[4];
    size_t hdr_got = 0;
    size_t body_len = 0, body_got = 0;
    std::vector<char> body;  // a vector, so reserve() allocates exactly what is asked (see read_some)
    std::string out;
    size_t out_off = 0;
    // A get / wait the server answers later: wait_on is the key it is registered under in waiters_.
    bool waiting = false;
    uint8_t wait_op = 0;
    std::vector<std::string> wait_keys;
    std::string wait_on;
    Clock::time_point deadline;
  };

  void run();
  void accept_all();
  bool read_some(uint64_t id, Conn& c);
  bool handle(uint64_t id, Conn& c);
  void try_answer(uint64_t id, Conn& c);
  void notify(const std::string& key);
  void unregister(uint64_t id, Conn& c);
  void expire_waits();
  void respond(Conn& c, std::string frame);
  void flush(Conn& c);

  std::string token_;
  int port_ = 0, listen_fd_ = -1, wake_r_ = -1, wake_w_ = -1;
  std::atomic<bool> stop_{false};
  Clock::time_point accept_paused_until_{};
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::unordered_map<std::string, std::string> data_;
  std::unordered_map<std::string, std::vector<uint64_t>> waiters_;
  std::thread thread_;
};

// Listens on every interface (dual-stack IPv6 where the kernel has it, else IPv4): MASTER_ADDR names this host
// as the others see it, which need not be an address this process can name itself.
int listen_on(int port, int* bound_port) {
  std::string errors;
  for (int family : {AF_INET6, AF_INET}) {
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);  // accept_all() drains it
    if (fd < 0) {
      errors += detail::str(" socket(", family == AF_INET6 ? "IPv6" : "IPv4", "): ", std::strerror(errno), ";");
      continue;
    }
    int one = 1, zero = 0;
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6, a->sin6_addr = in6addr_any, a->sin6_port = htons(static_cast<uint16_t>(port));
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET, a->sin_addr.s_addr = htonl(INADDR_ANY), a->sin_port = htons(static_cast<uint16_t>(port));
      len = sizeof(*a);
    }
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0) ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      errors += detail::str(" ", family == AF_INET6 ? "IPv6" : "IPv4", ": ", std::strerror(errno), ";");
      ::close(fd);
      continue;
    }
    *bound_port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return fd;
  }
  throw CommError(detail::str("TcpStore server: cannot listen on port ", port, ":", errors));
}

StoreServer::StoreServer(int port, std::string token) : token_(std::move(token)) {
  ICCRT_CHECK_VALUE(port >= 0 && port <= 65535, "TcpStore: port ", port, " is out of range");
  listen_fd_ = listen_on(port, &port_);
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    int err = errno;
    ::close(listen_fd_);
    throw_errno("TcpStore server: pipe2", err);
  }
  wake_r_ = p[0], wake_w_ = p[1];
  thread_ = std::thread([this] { run(); });
}

StoreServer::~StoreServer() {
  stop_.store(true);
  char b = 1;
  // Failure (a full pipe) is harmless: it already holds a wake-up.
  if (::write(wake_w_, &b, 1) < 0 && errno != EAGAIN) std::perror("iccrt: TcpStore server: wake-up write");
  thread_.join();
  conns_.clear();  // closes every client socket: their blocked calls fail at once
  ::close(listen_fd_), ::close(wake_r_), ::close(wake_w_);
}

void StoreServer::run() {
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  while (!stop_.load()) {
    fds.clear(), ids.clear();
    fds.push_back({wake_r_, POLLIN, 0});
    const bool accepting = Clock::now() >= accept_paused_until_;
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    Clock::time_point next = Clock::time_point::max();
    if (!accepting) next = accept_paused_until_;
    for (auto& [id, c] : conns_) {
      fds.push_back({c->fd, static_cast<short>(POLLIN | (c->out_off < c->out.size() ? POLLOUT : 0)), 0});
      ids.push_back(id);
      if (c->waiting) next = std::min(next, c->deadline);
    }
    int n = ::poll(fds.data(), fds.size(), next == Clock::time_point::max() ? -1 : poll_ms(next));
    if (n < 0) {
      if (errno == EINTR) continue;
      // Nothing sensible is left to do; closing every connection (below) makes each client fail fast.
      std::perror("iccrt: TcpStore server: poll");
      break;
    }
    if (fds[0].revents) {
      char buf[64];
      while (::read(wake_r_, buf, sizeof(buf)) > 0) {
      }
    }
    if (fds[1].revents) accept_all();
    for (size_t i = 0; i < ids.size(); ++i) {
      short ev = fds[i + 2].revents;
      auto it = conns_.find(ids[i]);
      if (!ev || it == conns_.end()) continue;
      Conn& c = *it->second;
      if (ev & POLLNVAL) c.dead = true;
      if (!c.dead && (ev & POLLOUT)) flush(c);
      if (!c.dead && (ev & (POLLIN | POLLHUP | POLLERR)) && !read_some(ids[i], c)) c.dead = true;
    }
    expire_waits();
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->second->dead) {
        unregister(it->first, *it->second);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  conns_.clear();
}

void StoreServer::accept_all() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // Out of descriptors (EMFILE, ENFILE, ENOBUFS...): the pending connection stays queued and would keep the
      // listener readable, so stop watching it for a moment instead of spinning.
      std::perror("iccrt: TcpStore server: accept");
      accept_paused_until_ = Clock::now() + milliseconds(100);
      return;
    }
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
      std::perror("iccrt: TcpStore server: TCP_NODELAY");
      ::close(fd);
      continue;
    }
    conns_.emplace(next_id_++, std::make_unique<Conn>(fd));
  }
}

// Reads what is available (a bounded amount per call, so one busy client cannot starve the others) and handles
// complete frames. False: close the connection.
bool StoreServer::read_some(uint64_t id, Conn& c) {
  for (int round = 0; round < 8; ++round) {
    char* dst;
    size_t want;
    if (c.hdr_got < 4) {
      dst = reinterpret_cast<char*>(c.hdr) + c.hdr_got, want = 4 - c.hdr_got;
    } else {
      if (c.body_got == c.body.size()) {
        // Grow with the bytes that arrived: double, from 64 KiB, never past the frame's end.
        size_t target = std::min(c.body_len, std::max(2 * c.body_got, kFirstChunk));
        c.body.reserve(target);
        c.body.resize(target);
      }
      dst = c.body.data() + c.body_got, want = c.body.size() - c.body_got;
    }
    ssize_t r = ::recv(c.fd, dst, want, 0);
    if (r == 0) return false;
    if (r < 0) return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
    if (c.waiting || c.out_off < c.out.size()) return false;  // a second request before the first was answered
    if (c.hdr_got < 4) {
      c.hdr_got += static_cast<size_t>(r);
      if (c.hdr_got < 4) continue;
      c.body_len = load_u32(c.hdr), c.body_got = 0;
      if (c.body_len == 0 || c.body_len > (c.authed ? kMaxFrame : kMaxHelloFrame)) return false;
      continue;
    }
    c.body_got += static_cast<size_t>(r);
    if (c.body_got < c.body_len) continue;
    bool ok = handle(id, c);
    c.hdr_got = 0;
    if (c.body.capacity() > kFirstChunk) std::vector<char>().swap(c.body);  // do not keep 64 MiB per client
    c.body.clear();
    if (!ok) return false;
  }
  return true;
}

bool StoreServer::handle(uint64_t id, Conn& c) {
  Reader r(c.body.data(), c.body_len);
  uint8_t op;
  if (!r.u8(op)) return false;
  if (!c.authed) {
    uint32_t magic, version;
    std::string token;
    if (op != kHello || !r.u32(magic) || !r.u32(version) || !r.str(token, kMaxKey) || !r.at_end()) return false;
    if (magic != kMagic || version != kVersion || token != token_) return false;
    c.authed = true;
    respond(c, begin_frame(kOk));
    return true;
  }
  std::string key, value;
  uint32_t timeout_ms = 0;
  switch (op) {
    case kSet:
      if (!r.str(key, kMaxKey) || !r.str(value, TcpStore::kMaxValueBytes) || !r.at_end()) return false;
      data_[key] = std::move(value);
      respond(c, begin_frame(kOk));
      notify(key);
      return true;
    case kGet:
    case kWait:
      c.wait_keys.clear();
      if (!r.u32(timeout_ms)) return false;
      if (op == kGet) {
        if (!r.str(key, kMaxKey)) return false;
        c.wait_keys.push_back(std::move(key));
      } else if (!r.keys(c.wait_keys)) {
        return false;
      }
      if (!r.at_end()) return false;
      c.waiting = true, c.wait_op = op, c.deadline = Clock::now() + milliseconds(timeout_ms);
      try_answer(id, c);
      return true;
    case kAdd: {
      int64_t delta, result;
      std::string error;
      if (!r.str(key, kMaxKey) || !r.i64(delta) || !r.at_end()) return false;
      auto it = data_.find(key);
      if (!add_to(it == data_.end() ? nullptr : &it->second, delta, &result, &error)) {
        std::string f = begin_frame(kValueError);
        put_str(f, detail::str("TcpStore add('", key, "', ", delta, "): ", error));
        respond(c, std::move(f));
        return true;
      }
      data_[key] = std::to_string(result);
      std::string f = begin_frame(kOk);
      put_u64(f, static_cast<uint64_t>(result));
      respond(c, std::move(f));
      notify(key);
      return true;
    }
    case kCheck: {
      std::vector<std::string> keys;
      if (!r.keys(keys) || !r.at_end()) return false;
      bool all = std::all_of(keys.begin(), keys.end(), [&](const std::string& k) { return data_.count(k) > 0; });
      std::string f = begin_frame(kOk);
      f.push_back(all ? 1 : 0);
      respond(c, std::move(f));
      return true;
    }
    case kErase:
      if (!r.str(key, kMaxKey) || !r.at_end()) return false;
      data_.erase(key);
      respond(c, begin_frame(kOk));
      return true;
    default:
      return false;  // includes a second Hello
  }
}

// Answers a pending get / wait if all its keys exist; otherwise registers it under the first missing key (one
// registration per waiter keeps notify() cheap, and re-checking every key on wake-up stays right under erase).
void StoreServer::try_answer(uint64_t id, Conn& c) {
  for (const auto& k : c.wait_keys) {
    if (!data_.count(k)) {
      c.wait_on = k;
      waiters_[k].push_back(id);
      return;
    }
  }
  c.waiting = false;
  c.wait_on.clear();
  std::string f = begin_frame(kOk);
  if (c.wait_op == kGet) {
    const std::string& v = data_[c.wait_keys[0]];
    f.reserve(f.size() + 4 + v.size());
    put_str(f, v);
  }
  respond(c, std::move(f));
}

void StoreServer::notify(const std::string& key) {
  auto it = waiters_.find(key);
  if (it == waiters_.end()) return;
  std::vector<uint64_t> ids = std::move(it->second);
  waiters_.erase(it);
  for (uint64_t id : ids) {
    auto ci = conns_.find(id);
    if (ci == conns_.end() || !ci->second->waiting || ci->second->wait_on != key) continue;
    ci->second->wait_on.clear();
    try_answer(id, *ci->second);
  }
}

void StoreServer::unregister(uint64_t id, Conn& c) {
  if (c.wait_on.empty()) return;
  auto it = waiters_.find(c.wait_on);
  if (it != waiters_.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
    if (v.empty()) waiters_.erase(it);
  }
  c.wait_on.clear();
}

void StoreServer::expire_waits() {
  const auto now = Clock::now();
  for (auto& [id, c] : conns_) {
    if (!c->waiting || c->dead || c->deadline > now) continue;
    unregister(id, *c);
    c->waiting = false;
    std::vector<std::string> missing;
    for (const auto& k : c->wait_keys)
      if (!data_.count(k)) missing.push_back(k);
    std::string f = begin_frame(kTimeout);
    put_u32(f, static_cast<uint32_t>(missing.size()));
    for (const auto& k : missing) put_str(f, k);
    respond(*c, std::move(f));
  }
}

void StoreServer::respond(Conn& c, std::string frame) {
  end_frame(frame);
  c.out = std::move(frame), c.out_off = 0;
  flush(c);
}

void StoreServer::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t w = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;  // the peer went away; close it quietly
      return;
    }
    c.out_off += static_cast<size_t>(w);
  }
  std::string().swap(c.out);
  c.out_off = 0;
}

}  // namespace

// ================================================================ client

struct TcpStore::Impl {
  Options opts;
  std::string endpoint;  // "host:port", for messages
  std::unique_ptr<StoreServer> server;
  int port = 0;
  std::mutex mu;  // one request / response at a time
  int fd = -1;

  ~Impl() { close_fd(); }
  void close_fd() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  enum class Io { kOk, kTimeout, kClosed, kError };
  Io send_all(const std::string& buf, Clock::time_point deadline, int* err);
  Io recv_all(char* dst, size_t n, Clock::time_point deadline, int* err);
  int connect_once(Clock::time_point deadline, std::string* last_error);
  void connect(Clock::time_point deadline);
  // Sends `frame` and returns the response body (status byte first). Connects first if needed. Any failure
  // leaves the connection closed, since the stream may be out of step; the next call reconnects.
  std::string request(std::string frame, const std::string& what, milliseconds timeout, bool server_waits);
};

TcpStore::Impl::Io TcpStore::Impl::send_all(const std::string& buf, Clock::time_point deadline, int* err) {
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t w = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
    if (w >= 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return *err = errno, Io::kError;
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, poll_ms(deadline));
    if (n < 0 && errno != EINTR) return *err = errno, Io::kError;
    if (n == 0) return Io::kTimeout;
  }
  return Io::kOk;
}

TcpStore::Impl::Io TcpStore::Impl::recv_all(char* dst, size_t len, Clock::time_point deadline, int* err) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = ::recv(fd, dst + got, len - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return Io::kClosed;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return Io::kClosed;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return *err = errno, Io::kError;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, poll_ms(deadline));
    if (n < 0 && errno != EINTR) return *err = errno, Io::kError;
    if (n == 0) return Io::kTimeout;
  }
  return Io::kOk;
}

// One attempt over every address of the host. Returns a connected non-blocking socket, or -1 with the reason
// in *last_error for the caller to retry (the server may simply not be up yet).
int TcpStore::Impl::connect_once(Clock::time_point deadline, std::string* last_error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC, hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(opts.host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    *last_error = detail::str("getaddrinfo: ", rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
    return -1;
  }
  int result = -1;
  for (addrinfo* a = res; a && result < 0; a = a->ai_next) {
    int s = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (s < 0) {
      *last_error = detail::str("socket: ", std::strerror(errno));
      continue;
    }
    int err = 0;
    if (::connect(s, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {  // bounded by our deadline rather than the kernel's minutes-long SYN retries
        pollfd p{s, POLLOUT, 0};
        int n;
        while ((n = ::poll(&p, 1, poll_ms(deadline))) < 0 && errno == EINTR) {
        }
        socklen_t len = sizeof(err);
        if (n < 0)
          err = errno;
        else if (n == 0)
          err = ETIMEDOUT;
        else if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
          err = errno;
      }
    }
    int one = 1;
    if (err == 0 && ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) err = errno;
    if (err == 0) {
      result = s;
    } else {
      *last_error = std::strerror(err);
      ::close(s);
    }
  }
  ::freeaddrinfo(res);
  return result;
}

void TcpStore::Impl::connect(Clock::time_point deadline) {
  const auto start = Clock::now();
  std::string last_error = "no attempt made";
  auto backoff = milliseconds(10);
  for (;;) {
    fd = connect_once(deadline, &last_error);
    if (fd >= 0) break;
    if (Clock::now() >= deadline) {
      throw CommTimeout(detail::str("TcpStore could not connect to ", endpoint, " within ",
                                    seconds_str(std::chrono::duration_cast<milliseconds>(Clock::now() - start)),
                                    " (last error: ", last_error, ")"));
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - Clock::now()));
    backoff = std::min(backoff * 2, milliseconds(1000));
  }
  std::string hello = begin_frame(kHello);
  put_u32(hello, kMagic), put_u32(hello, kVersion), put_str(hello, opts.token);
  end_frame(hello);
  int err = 0;
  unsigned char reply[5];
  Io io = send_all(hello, deadline, &err);
  if (io == Io::kOk) io = recv_all(reinterpret_cast<char*>(reply), sizeof(reply), deadline, &err);
  if (io == Io::kOk && load_u32(reply) == 1 && reply[4] == kOk) return;
  close_fd();
  if (io == Io::kTimeout) throw CommTimeout(detail::str("TcpStore handshake with ", endpoint, " timed out"));
  if (io == Io::kError) throw_errno(detail::str("TcpStore handshake with ", endpoint), err);
  throw CommError(detail::str("TcpStore server at ", endpoint,
                              " refused the connection (wrong ICCRT_STORE_TOKEN, or not an iccrt store)"));
}

std::string TcpStore::Impl::request(std::string frame, const std::string& what, milliseconds timeout,
                                    bool server_waits) {
  end_frame(frame);
  std::lock_guard<std::mutex> lock(mu);
  const auto start = Clock::now();
  // The server answers a get / wait at `timeout`; our own deadline is a little later so that its answer (which
  // names the missing keys) normally arrives first, and a hung server still cannot hang us.
  const auto grace = server_waits ? std::min<milliseconds>(timeout / 10 + milliseconds(100), std::chrono::seconds(5))
                                  : milliseconds(0);
  const auto deadline = start + timeout + grace;
  if (fd < 0) connect(start + timeout);
  if (server_waits) {  // what is left of the timeout after connecting, patched into the timeout_ms field
    auto left = std::chrono::ceil<milliseconds>(start + timeout - Clock::now()).count();
    uint32_t ms = static_cast<uint32_t>(std::clamp<int64_t>(left, 0, UINT32_MAX));
    for (int i = 0; i < 4; ++i) frame[5 + i] = static_cast<char>((ms >> (8 * i)) & 0xff);
  }
  int err = 0;
  unsigned char hdr[4];
  std::string body;
  Io io = send_all(frame, deadline, &err);
  if (io == Io::kOk) io = recv_all(reinterpret_cast<char*>(hdr), 4, deadline, &err);
  if (io == Io::kOk) {
    size_t len = load_u32(hdr);
    if (len == 0 || len > kMaxFrame) {
      close_fd();
      throw CommError(detail::str("TcpStore ", what, ": garbled response from ", endpoint));
    }
    body.resize(len);
    io = recv_all(body.data(), len, deadline, &err);
  }
  if (io == Io::kOk) return body;
  close_fd();
  if (io == Io::kTimeout)
    throw CommTimeout(
        detail::str("TcpStore ", what, " timed out after ", seconds_str(timeout), " waiting for ", endpoint));
  if (io == Io::kClosed)
    throw CommError(detail::str("TcpStore ", what, ": connection to ", endpoint,
                                " was closed (the store server exited or dropped this client)"));
  throw_errno(detail::str("TcpStore ", what, ": I/O with ", endpoint), err);
}

namespace {
// Checks the status byte: throws for Timeout / ValueError, returns a reader positioned on an Ok payload.
Reader expect_ok(const std::string& body, const std::string& what, milliseconds timeout, const std::string& endpoint) {
  Reader r(body);
  uint8_t status = 0xff;
  r.u8(status);
  if (status == kOk) return r;
  if (status == kTimeout) {
    std::vector<std::string> missing;
    r.keys(missing);
    throw CommTimeout(detail::str("TcpStore ", what, " timed out after ", seconds_str(timeout), " waiting for ",
                                  endpoint, "; missing keys: ", quoted_list(missing)));
  }
  std::string msg;
  if (status == kValueError && r.str(msg, kMaxFrame)) throw ValueError(msg);
  throw CommError(detail::str("TcpStore ", what, ": garbled response from ", endpoint));
}

void check_key(const std::string& key) {
  ICCRT_CHECK_VALUE(key.size() <= TcpStore::kMaxKeyBytes, "TcpStore: key of ", key.size(), " bytes exceeds ",
                    TcpStore::kMaxKeyBytes, " (starts with '", key.substr(0, 64), "')");
}
}  // namespace

TcpStore::TcpStore(const Options& opts) : impl_(std::make_unique<Impl>()) {
  ICCRT_CHECK_VALUE(opts.token.size() <= kMaxKeyBytes, "TcpStore: token longer than ", kMaxKeyBytes, " bytes");
  ICCRT_CHECK_VALUE(opts.port >= 0 && opts.port <= 65535 && (opts.port > 0 || opts.is_server), "TcpStore: port ",
                    opts.port, " is invalid (0 only with is_server)");
  set_timeout(opts.timeout);
  impl_->opts = opts;
  impl_->port = opts.port;
  if (opts.is_server) {
    impl_->server = std::make_unique<StoreServer>(opts.port, opts.token);
    impl_->port = impl_->server->port();
  }
  impl_->endpoint = detail::str(opts.host, ":", impl_->port);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->connect(Clock::now() + timeout());  // fail early: wrong token, unreachable server
}

TcpStore::~TcpStore() {
  impl_->close_fd();
  impl_->server.reset();  // joins the server thread, then closes every client's connection
}

int TcpStore::port() const { return impl_->port; }

void TcpStore::set(const std::string& key, const std::string& value) {
  check_key(key);
  ICCRT_CHECK_VALUE(value.size() <= kMaxValueBytes, "TcpStore set('", key, "'): value of ", value.size(),
                    " bytes exceeds ", kMaxValueBytes);
  std::string f = begin_frame(kSet);
  f.reserve(f.size() + 8 + key.size() + value.size());
  put_str(f, key), put_str(f, value);
  const std::string what = "set('" + key + "')";
  expect_ok(impl_->request(std::move(f), what, timeout(), false), what, timeout(), impl_->endpoint);
}

std::string TcpStore::get(const std::string& key) {
  check_key(key);
  std::string f = begin_frame(kGet);
  put_u32(f, 0), put_str(f, key);  // timeout_ms is filled in by request()
  const std::string what = "get('" + key + "')";
  const std::string body = impl_->request(std::move(f), what, timeout(), true);
  Reader r = expect_ok(body, what, timeout(), impl_->endpoint);
  std::string value;
  if (!r.str(value, kMaxValueBytes) || !r.at_end())
    throw CommError(detail::str("TcpStore ", what, ": garbled response from ", impl_->endpoint));
  return value;
}

int64_t TcpStore::add(const std::string& key, int64_t delta) {
  check_key(key);
  std::string f = begin_frame(kAdd);
  put_str(f, key), put_u64(f, static_cast<uint64_t>(delta));
  const std::string what = detail::str("add('", key, "', ", delta, ")");
  const std::string body = impl_->request(std::move(f), what, timeout(), false);
  Reader r = expect_ok(body, what, timeout(), impl_->endpoint);
  int64_t v;
  if (!r.i64(v) || !r.at_end())
    throw CommError(detail::str("TcpStore ", what, ": garbled response from ", impl_->endpoint));
  return v;
}

namespace {
std::string keys_frame(uint8_t op, const std::vector<std::string>& keys) {
  std::string f = begin_frame(op);
  if (op == kWait) put_u32(f, 0);  // timeout_ms, filled in by request()
  put_u32(f, static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) check_key(k), put_str(f, k);
  ICCRT_CHECK_VALUE(f.size() - 4 <= kMaxFrame, "TcpStore: ", keys.size(), " keys make a request over ", kMaxFrame,
                    " bytes");
  return f;
}
}  // namespace

bool TcpStore::check(const std::vector<std::string>& keys) {
  const std::string what = "check(" + quoted_list(keys) + ")";
  const std::string body = impl_->request(keys_frame(kCheck, keys), what, timeout(), false);
  Reader r = expect_ok(body, what, timeout(), impl_->endpoint);
  uint8_t all;
  if (!r.u8(all) || !r.at_end())
    throw CommError(detail::str("TcpStore ", what, ": garbled response from ", impl_->endpoint));
  return all != 0;
}

void TcpStore::wait(const std::vector<std::string>& keys) {
  const std::string what = "wait(" + quoted_list(keys) + ")";
  expect_ok(impl_->request(keys_frame(kWait, keys), what, timeout(), true), what, timeout(), impl_->endpoint);
}

void TcpStore::erase(const std::string& key) {
  check_key(key);
  std::string f = begin_frame(kErase);
  put_str(f, key);
  const std::string what = "erase('" + key + "')";
  expect_ok(impl_->request(std::move(f), what, timeout(), false), what, timeout(), impl_->endpoint);
}

}  // namespace iccrt::comm
