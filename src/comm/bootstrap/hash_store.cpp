// HashStore: the Store contract inside one process, for ranks run as threads (tests, single-host tools).
// One mutex guards the map; one condition variable wakes every waiter on every change, which is plenty for the
// handful of threads a test runs and keeps the waiting logic obviously correct (each waiter re-checks its keys).
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "iccrt/comm/store.hpp"

namespace iccrt::comm {

namespace {

std::string seconds_str(std::chrono::milliseconds t) {
  std::ostringstream os;
  os << static_cast<double>(t.count()) / 1000.0 << "s";
  return os.str();
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? ", '" : "'") + keys[i] + "'";
  return out;
}

}  // namespace

struct HashStore::Impl {
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, std::string> data;

  // Caller holds `mu`.
  std::vector<std::string> missing(const std::vector<std::string>& keys) const {
    std::vector<std::string> out;
    for (const auto& k : keys)
      if (!data.count(k)) out.push_back(k);
    return out;
  }

  // Blocks until every key exists or the timeout passes; returns with `lock` held. `what` names the call in the
  // error ("get('x')").
  void wait_for(std::unique_lock<std::mutex>& lock, const std::vector<std::string>& keys,
                std::chrono::milliseconds timeout, const std::string& what) {
    auto all_present = [&] {
      for (const auto& k : keys)
        if (!data.count(k)) return false;
      return true;
    };
    // wait_until against a steady deadline: spurious wake-ups and unrelated sets do not extend the wait.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (cv.wait_until(lock, deadline, all_present)) return;
    throw CommTimeout(detail::str("HashStore ", what, " timed out after ", seconds_str(timeout),
                                  "; missing keys: ", quoted_list(missing(keys))));
  }
};

HashStore::HashStore() : impl_(std::make_unique<Impl>()) {}
HashStore::~HashStore() = default;

void HashStore::set(const std::string& key, const std::string& value) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->data[key] = value;
  }
  impl_->cv.notify_all();
}

std::string HashStore::get(const std::string& key) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->wait_for(lock, {key}, timeout(), "get('" + key + "')");
  return impl_->data.at(key);
}

int64_t HashStore::add(const std::string& key, int64_t delta) {
  int64_t result = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->data.find(key);
    int64_t current = 0;
    if (it != impl_->data.end()) {
      // Counters are stored as decimal text so get() of a counter reads the same from every store.
      const std::string& s = it->second;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), current);
      ICCRT_CHECK_VALUE(ec == std::errc() && end == s.data() + s.size() && !s.empty(), "HashStore add('", key,
                        "'): the stored value is not an integer");
    }
    ICCRT_CHECK_VALUE(!__builtin_add_overflow(current, delta, &result), "HashStore add('", key, "', ", delta,
                      "): overflows int64 (current value ", current, ")");
    impl_->data[key] = std::to_string(result);
  }
  impl_->cv.notify_all();
  return result;
}

bool HashStore::check(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->missing(keys).empty();
}

void HashStore::wait(const std::vector<std::string>& keys) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->wait_for(lock, keys, timeout(), "wait(" + quoted_list(keys) + ")");
}

void HashStore::erase(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->data.erase(key);
}

}  // namespace iccrt::comm
