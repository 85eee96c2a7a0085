#pragma once
// Key-value rendezvous stores used to bootstrap a process group: every rank publishes what its peers need
// (host identity, shared-memory names, NCCL ids) and reads theirs.
//
// TcpStore: rank 0 (or whoever is told to) runs the server inside its own process on MASTER_ADDR:MASTER_PORT;
// every rank, the server's own included, is a client. Messages are length-prefixed and bounded
// (kMaxKeyBytes / kMaxValueBytes); a connection must first present the shared token (ICCRT_STORE_TOKEN, see
// bootstrap/env) or it is dropped. Every blocking call gives up after the store's timeout with CommTimeout.
// HashStore: the same contract inside one process (ranks as threads, in tests).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iccrt/comm/types.hpp"

namespace iccrt::comm {

class ICCRT_API Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::string& value) = 0;
  // Waits until `key` exists (up to the timeout), then returns its value.
  virtual std::string get(const std::string& key) = 0;
  // Atomically adds `delta` to the integer stored at `key` (missing = 0) and returns the new value.
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
  // True when every key exists; does not wait.
  virtual bool check(const std::vector<std::string>& keys) = 0;
  // Waits until every key exists; CommTimeout naming the missing keys otherwise.
  virtual void wait(const std::vector<std::string>& keys) = 0;
  virtual void erase(const std::string& key) = 0;

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 protected:
  std::chrono::milliseconds timeout_{std::chrono::seconds(300)};
};

class ICCRT_API HashStore : public Store {
 public:
  HashStore();
  ~HashStore() override;
  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t delta) override;
  bool check(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys) override;
  void erase(const std::string& key) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ICCRT_API TcpStore : public Store {
 public:
  static constexpr size_t kMaxKeyBytes = 4096;
  static constexpr size_t kMaxValueBytes = 64u << 20;

  struct Options {
    std::string host = "127.0.0.1";
    int port = 29500;        // 0 with is_server: pick a free port (see port())
    bool is_server = false;  // this process also runs the server
    std::string token;       // shared secret; connections that do not present it are refused
    std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  };
  explicit TcpStore(const Options& opts);
  ~TcpStore() override;
  int port() const;  // the server's port (useful with port = 0)

  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t delta) override;
  bool check(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys) override;
  void erase(const std::string& key) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iccrt::comm
