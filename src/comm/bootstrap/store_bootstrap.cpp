// Bootstrap over a Store: round r of allgather has every rank set "<prefix>/<r>/<rank>", wait for all of them and
// read them back.
//
// Note [Erasing old bootstrap rounds]
// Keys are never overwritten (the round is part of the key), so a slow rank can never read a newer round's value
// by mistake; they are erased two rounds later to keep a long-lived store small. When rank i finishes round r
// it has seen every rank's round-r key, and rank j sets its round-r key only after it has read all of round r-1;
// so every rank is done reading round r-1, and a fortiori round r-2, and rank i may erase its own round-(r-2)
// key. (Round r-1 would be safe too; r-2 leaves a margin at the cost of one extra key per rank.) A rank erases
// only its own keys: each key has exactly one owner, and a rank that dies leaves at most its last two.
#include <chrono>

#include "iccrt/comm/types.hpp"
#include "src/comm/bootstrap/bootstrap.hpp"

namespace iccrt::comm {

namespace {

class StoreBootstrap final : public Bootstrap {
 public:
  StoreBootstrap(std::shared_ptr<Store> store, int rank, int size, std::string prefix)
      : store_(std::move(store)), rank_(rank), size_(size), prefix_(std::move(prefix)) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::vector<std::string> allgather(const std::string& mine) override {
    ICCRT_CHECK_VALUE(mine.size() <= TcpStore::kMaxValueBytes, "bootstrap '", prefix_, "' allgather: ", mine.size(),
                      " bytes exceed the limit of ", TcpStore::kMaxValueBytes);
    const uint64_t round = round_++;
    std::vector<std::string> keys(size_);
    for (int r = 0; r < size_; ++r) keys[r] = key(round, r);
    store_->set(keys[rank_], mine);
    try {
      store_->wait(keys);
    } catch (const CommTimeout& e) {
      throw CommTimeout(detail::str("bootstrap '", prefix_, "' allgather round ", round, " (rank ", rank_, " of ",
                                    size_, "): ", missing_ranks(keys), " did not arrive: ", e.what()));
    }
    std::vector<std::string> all(size_);
    for (int r = 0; r < size_; ++r) all[r] = r == rank_ ? mine : store_->get(keys[r]);
    if (round >= 2) store_->erase(key(round - 2, rank_));  // Note [Erasing old bootstrap rounds]
    return all;
  }

 private:
  std::string key(uint64_t round, int rank) const { return detail::str(prefix_, "/", round, "/", rank); }

  // Which ranks are missing, asked after a timeout; best effort, since the store itself may be what failed.
  std::string missing_ranks(const std::vector<std::string>& keys) const {
    std::string out;
    try {
      for (int r = 0; r < size_; ++r)
        if (!store_->check({keys[r]})) out += (out.empty() ? "" : ", ") + std::to_string(r);
    } catch (const Error&) {
      return "some ranks";
    }
    return out.empty() ? std::string("no rank (all arrived just after the timeout)") : "ranks " + out;
  }

  std::shared_ptr<Store> store_;
  int rank_, size_;
  std::string prefix_;
  uint64_t round_ = 0;
};

}  // namespace

std::unique_ptr<Bootstrap> make_store_bootstrap(std::shared_ptr<Store> store, int rank, int size, std::string prefix) {
  ICCRT_CHECK_VALUE(store != nullptr, "make_store_bootstrap: store is null");
  ICCRT_CHECK_VALUE(size >= 1 && rank >= 0 && rank < size, "make_store_bootstrap: rank ", rank,
                    " is out of range for size ", size);
  return std::make_unique<StoreBootstrap>(std::move(store), rank, size, std::move(prefix));
}

}  // namespace iccrt::comm
