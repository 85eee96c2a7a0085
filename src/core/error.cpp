#include "iccrt/core/error.hpp"

namespace iccrt::detail {

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  std::ostringstream os;
  os << "iccrt internal error (please report): " << cond << " failed at " << file << ':' << line;
  if (!msg.empty()) os << ": " << msg;
  throw InternalError(os.str());
}

}  // namespace iccrt::detail
