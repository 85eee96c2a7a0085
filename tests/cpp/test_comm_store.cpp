// Rendezvous stores (HashStore, TcpStore) and the store bootstrap. The Store contract is tested against both
// stores; the TCP server is also fed refused tokens, garbage, oversize lengths and abrupt shutdowns. Ranks and
// clients run as threads. Timeouts are a few hundred ms so that every test stays well under a few seconds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "iccrt/comm/store.hpp"
#include "src/comm/bootstrap/bootstrap.hpp"

namespace iccrt::comm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kToken = "test-token";

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::unique_ptr<TcpStore> tcp_store(int port, bool is_server, milliseconds timeout, std::string token = kToken) {
  TcpStore::Options o;
  o.port = port, o.is_server = is_server, o.token = std::move(token), o.timeout = timeout;
  return std::make_unique<TcpStore>(o);
}

// Runs fn(i) on n threads and joins them; gtest assertions inside are fine (they are thread-safe).
void run_threads(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) ts.emplace_back(fn, i);
  for (auto& t : ts) t.join();
}

// ---- the Store contract, for both stores ----

// Every handle from open() talks to the same store: the HashStore itself, or a new TcpStore client.
class StoreContract : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (is_tcp())
      server_ = tcp_store(0, true, 2s);
    else
      hash_ = std::make_shared<HashStore>();
  }
  bool is_tcp() const { return std::string(GetParam()) == "tcp"; }
  std::shared_ptr<Store> open(milliseconds timeout = 2s) {
    if (!is_tcp()) {
      hash_->set_timeout(timeout);
      return hash_;
    }
    return tcp_store(server_->port(), false, timeout);
  }

  std::unique_ptr<TcpStore> server_;
  std::shared_ptr<HashStore> hash_;
};

TEST_P(StoreContract, SetGetAddCheckErase) {
  auto s = open();
  s->set("a", "1");
  EXPECT_EQ(s->get("a"), "1");
  s->set("a", "two");  // overwrite
  EXPECT_EQ(s->get("a"), "two");
  EXPECT_TRUE(s->check({"a"}));
  EXPECT_FALSE(s->check({"a", "b"}));
  EXPECT_TRUE(s->check({}));
  EXPECT_EQ(s->add("n", 5), 5);
  EXPECT_EQ(s->add("n", -7), -2);
  EXPECT_EQ(s->get("n"), "-2");
  s->wait({"a", "n"});
  s->erase("a");
  EXPECT_FALSE(s->check({"a"}));
  s->erase("never-set");  // erasing a missing key is not an error
  std::string binary("\0\x01\xff zero\0", 10);
  s->set("bin", binary);
  s->set("empty", "");
  EXPECT_EQ(s->get("bin"), binary);
  EXPECT_EQ(s->get("empty"), "");
}

TEST_P(StoreContract, AddOnNonIntegerIsValueError) {
  auto s = open();
  s->set("text", "abc");
  EXPECT_THROW(s->add("text", 1), ValueError);
  s->set("big", "9223372036854775807");
  EXPECT_THROW(s->add("big", 1), ValueError);
  EXPECT_EQ(s->add("fresh", 1), 1);  // the store still answers afterwards
}

TEST_P(StoreContract, GetAndWaitBlockUntilSet) {
  auto reader = open(), writer = open();
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    writer->set("late", "value");
    std::this_thread::sleep_for(50ms);
    writer->set("later", "x");
  });
  auto t0 = Clock::now();
  EXPECT_EQ(reader->get("late"), "value");
  reader->wait({"late", "later"});
  EXPECT_GE(seconds_since(t0), 0.09);
  t.join();
}

TEST_P(StoreContract, GetOfMissingKeyTimesOut) {
  auto s = open(300ms);
  auto t0 = Clock::now();
  try {
    s->get("missing-key");
    FAIL() << "get returned";
  } catch (const CommTimeout& e) {
    EXPECT_NE(std::string(e.what()).find("get('missing-key') timed out after 0.3s"), std::string::npos) << e.what();
  }
  double dt = seconds_since(t0);
  EXPECT_GE(dt, 0.29);
  EXPECT_LT(dt, 1.5);
  s->set("after", "ok");  // still usable after a timeout
  EXPECT_EQ(s->get("after"), "ok");
}

TEST_P(StoreContract, WaitTimeoutNamesOnlyMissingKeys) {
  auto s = open(200ms);
  s->set("here", "1");
  try {
    s->wait({"here", "gone"});
    FAIL() << "wait returned";
  } catch (const CommTimeout& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("missing keys: 'gone'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("missing keys: 'here'"), std::string::npos) << msg;
  }
}

TEST_P(StoreContract, ConcurrentAddsFromSixteenThreads) {
  constexpr int kThreads = 16, kAdds = 50;
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::vector<std::shared_ptr<Store>> handles;  // opened up front: open() is not meant to race with itself
  for (int i = 0; i < kThreads; ++i) handles.push_back(open());
  run_threads(kThreads, [&](int i) {
    for (int k = 0; k < kAdds; ++k) seen[i].push_back(handles[i]->add("counter", 1));
  });
  std::vector<int64_t> all;
  for (auto& v : seen) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < kThreads * kAdds; ++i) ASSERT_EQ(all[i], i + 1);  // every add saw a distinct value
  EXPECT_EQ(open()->get("counter"), std::to_string(kThreads * kAdds));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract, ::testing::Values("hash", "tcp"),
                         [](const auto& info) { return std::string(info.param); });

// ---- TcpStore specifics ----

// A port that was free a moment ago (bind to 0, read it, close).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET, a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A raw connection for feeding the server bytes no TcpStore client would send.
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET, a.sin_addr.s_addr = htonl(INADDR_LOOPBACK), a.sin_port = htons(port);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  }
  ~RawConn() { ::close(fd_); }
  void send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), (ssize_t)bytes.size());
  }
  // Reads until the server closes the connection (true) or 2 s pass (false); returns what it read in *got.
  bool closed_by_server(std::string* got = nullptr) {
    auto deadline = Clock::now() + 2s;
    char buf[256];
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
      if (r <= 0) return true;
      if (got) got->append(buf, r);
    }
    return false;
  }

 private:
  int fd_;
};

// Wire encoding (Note [TcpStore wire protocol] in tcp_store.cpp), for hand-made frames.
std::string u32(uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }
std::string frame(const std::string& body) { return u32(static_cast<uint32_t>(body.size())) + body; }
std::string hello(const std::string& token) {
  return frame(std::string(1, '\x01') + u32(0x54534349) + u32(1) + u32(static_cast<uint32_t>(token.size())) + token);
}
const std::string kHelloOk = u32(1) + std::string(1, '\0');

void expect_server_serves(int port) {
  auto c = tcp_store(port, false, 1s);
  int64_t v = c->add("alive", 1);
  EXPECT_EQ(c->add("alive", 0), v);
}

TEST(TcpStore, EphemeralPortAndSelfClient) {
  auto s = tcp_store(0, true, 1s);
  EXPECT_GT(s->port(), 0);
  s->set("k", "v");
  EXPECT_EQ(tcp_store(s->port(), false, 1s)->get("k"), "v");
}

TEST(TcpStore, ClientRetriesUntilServerStarts) {
  int port = free_port();
  std::string got;
  std::thread client([&] { got = tcp_store(port, false, 3s)->get("k"); });  // connection refused at first
  std::this_thread::sleep_for(200ms);
  auto server = tcp_store(port, true, 3s);
  server->set("k", "late server");
  client.join();
  EXPECT_EQ(got, "late server");
}

TEST(TcpStore, ConnectTimesOutWithoutServer) {
  int port = free_port();
  auto t0 = Clock::now();
  EXPECT_THROW(tcp_store(port, false, 300ms), CommTimeout);
  EXPECT_GE(seconds_since(t0), 0.29);
  EXPECT_LT(seconds_since(t0), 1.5);
}

TEST(TcpStore, WrongTokenIsRefusedAndServerKeepsServing) {
  auto server = tcp_store(0, true, 1s);
  try {
    tcp_store(server->port(), false, 1s, "not-the-token");
    FAIL() << "connected with a wrong token";
  } catch (const CommTimeout& e) {
    FAIL() << "refusal must not look like a timeout: " << e.what();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
  expect_server_serves(server->port());
}

TEST(TcpStore, GarbageAndOversizeLengthsAreDropped) {
  auto server = tcp_store(0, true, 1s);
  const int port = server->port();
  const std::vector<std::string> bad_first_frames = {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",  // a stray HTTP client: length "GET " is far over the hello limit
      u32(0xffffffffu),                     // a 4 GiB frame
      u32(100000) + std::string(100, 'x'),  // over the pre-hello limit
      frame(std::string(1, '\x02') + u32(1) + "k" + u32(1) + "v"),  // a Set before the hello
      frame(std::string(20, '\xee')),                               // garbled hello
      u32(0),                                                       // empty frame
  };
  for (const auto& bytes : bad_first_frames) {
    RawConn c(port);
    c.send(bytes);
    EXPECT_TRUE(c.closed_by_server()) << "frame starting " << testing::PrintToString(bytes.substr(0, 8));
  }
  const std::vector<std::string> bad_after_hello = {
      u32(0x7fffffffu),                                          // 2 GiB frame, over kMaxFrame
      frame(std::string(1, '\x02') + u32(1000000000u) + "key"),  // Set whose key length runs past the frame
      frame(std::string(1, '\x02') + u32(5000) + std::string(5000, 'k') + u32(0)),  // key over kMaxKeyBytes
      frame(std::string(1, '\x63')),                                                // unknown op
      frame(std::string(1, '\x07') + u32(1) + "k" + "trailing"),                    // Erase with trailing bytes
      hello(kToken),                                                                // a second hello
  };
  for (const auto& bytes : bad_after_hello) {
    RawConn c(port);
    c.send(hello(kToken));
    c.send(bytes);
    std::string got;
    EXPECT_TRUE(c.closed_by_server(&got)) << "frame starting " << testing::PrintToString(bytes.substr(0, 8));
    EXPECT_EQ(got, kHelloOk);
  }
  // A peer that announces 64 MiB and then stalls is simply kept waiting, and good clients are unaffected.
  RawConn stalled(port);
  stalled.send(hello(kToken) + u32(1u << 26) + "\x02");
  expect_server_serves(port);
}

TEST(TcpStore, SixtyFourConcurrentClients) {
  constexpr int kClients = 70;
  auto server = tcp_store(0, true, 3s);
  std::vector<std::unique_ptr<TcpStore>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(tcp_store(server->port(), false, 3s));
  std::atomic<int> ok{0};
  std::thread go([&] {
    std::this_thread::sleep_for(100ms);  // every client is blocked in get() on the server by now
    server->set("go", "now");
  });
  run_threads(kClients, [&](int i) {
    if (clients[i]->get("go") == "now") clients[i]->add("done", 1), ++ok;
  });
  go.join();
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_EQ(server->get("done"), std::to_string(kClients));
}

TEST(TcpStore, LargeValuesAndLimits) {
  auto s = tcp_store(0, true, 2s);
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 12));
  s->set("big", big);
  EXPECT_EQ(tcp_store(s->port(), false, 2s)->get("big"), big);
  EXPECT_THROW(s->set("huge", std::string(TcpStore::kMaxValueBytes + 1, 'x')), ValueError);
  EXPECT_THROW(s->set(std::string(TcpStore::kMaxKeyBytes + 1, 'k'), "v"), ValueError);
  EXPECT_EQ(s->get("big").size(), big.size());
}

TEST(TcpStore, ServerShutdownFailsBlockedClientWithoutHanging) {
  auto server = tcp_store(0, true, 5s);
  auto client = tcp_store(server->port(), false, 5s);
  auto idle = tcp_store(server->port(), false, 5s);
  std::string error;
  bool was_timeout = false;
  std::thread blocked([&] {
    try {
      client->get("never");
    } catch (const CommTimeout& e) {
      was_timeout = true, error = e.what();
    } catch (const CommError& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(100ms);
  auto t0 = Clock::now();
  server.reset();
  blocked.join();
  EXPECT_LT(seconds_since(t0), 2.0);  // far below the client's 5 s timeout
  EXPECT_FALSE(was_timeout) << error;
  EXPECT_NE(error.find("closed"), std::string::npos) << error;
  // An idle client whose server is gone: a large write meets a reset connection (EPIPE, not SIGPIPE), then
  // reconnecting fails within the timeout.
  idle->set_timeout(300ms);
  EXPECT_THROW(idle->set("k", std::string(4 << 20, 'x')), CommError);
  EXPECT_THROW(idle->set("k", "v"), CommError);
}

// ---- store bootstrap ----

std::string contribution(int rank, int round) {
  static const size_t kLengths[] = {0, 1, size_t{1} << 20, 7, 100};
  std::string s(kLengths[rank % 5], '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(rank * 31 + round * 7 + i);
  return s;
}

void allgather_rounds(const std::function<std::shared_ptr<Store>(int)>& store_for_rank, Store& observer) {
  constexpr int kRanks = 5, kRounds = 4;
  run_threads(kRanks, [&](int rank) {
    auto b = make_store_bootstrap(store_for_rank(rank), rank, kRanks, "grp");
    EXPECT_EQ(b->rank(), rank);
    EXPECT_EQ(b->size(), kRanks);
    for (int round = 0; round < kRounds; ++round) {
      auto all = b->allgather(contribution(rank, round));
      ASSERT_EQ(all.size(), size_t{kRanks});
      for (int r = 0; r < kRanks; ++r) EXPECT_EQ(all[r], contribution(r, round)) << "rank " << r;
    }
  });
  // Rounds 0 and 1 were erased by their owners; 2 and 3 are kept (Note [Erasing old bootstrap rounds]).
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_FALSE(observer.check({"grp/0/" + std::to_string(r), "grp/1/" + std::to_string(r)}));
    EXPECT_TRUE(observer.check({"grp/2/" + std::to_string(r)}));
    EXPECT_TRUE(observer.check({"grp/3/" + std::to_string(r)}));
  }
}

TEST(StoreBootstrap, AllgatherFiveRanksOverHashStore) {
  auto store = std::make_shared<HashStore>();
  store->set_timeout(3s);
  allgather_rounds([&](int) { return store; }, *store);
}

TEST(StoreBootstrap, AllgatherFiveRanksOverTcpStore) {
  auto server = tcp_store(0, true, 3s);
  const int port = server->port();
  allgather_rounds([&](int) { return std::shared_ptr<Store>(tcp_store(port, false, 3s)); }, *server);
}

TEST(StoreBootstrap, AbsentRankTimesOutNamingIt) {
  auto store = std::make_shared<HashStore>();
  store->set_timeout(200ms);
  run_threads(2, [&](int rank) {  // rank 2 of 3 never comes
    auto b = make_store_bootstrap(store, rank, 3, "partial");
    try {
      b->barrier();
      ADD_FAILURE() << "barrier returned without rank 2";
    } catch (const CommTimeout& e) {
      EXPECT_NE(std::string(e.what()).find("ranks 2 did not arrive"), std::string::npos) << e.what();
    }
  });
}

TEST(StoreBootstrap, RejectsBadArguments) {
  auto store = std::make_shared<HashStore>();
  EXPECT_THROW(make_store_bootstrap(store, 3, 3, "p"), ValueError);
  EXPECT_THROW(make_store_bootstrap(store, 0, 0, "p"), ValueError);
  EXPECT_THROW(make_store_bootstrap(nullptr, 0, 1, "p"), ValueError);
  auto single = make_store_bootstrap(store, 0, 1, "solo");
  EXPECT_EQ(single->allgather("x"), std::vector<std::string>{"x"});
}

}  // namespace
}  // namespace iccrt::comm
