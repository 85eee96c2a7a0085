#include "iccrt/core/dtype.hpp"

#include <ostream>

namespace iccrt {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

DType dtype_from_name(const std::string& name) {
  struct Alias {
    const char* name;
    DType t;
  };
  static const Alias aliases[] = {
      {"float32", DType::Float32}, {"float", DType::Float32},   {"fp32", DType::Float32},
      {"float64", DType::Float64}, {"double", DType::Float64},  {"fp64", DType::Float64},
      {"float16", DType::Float16}, {"half", DType::Float16},    {"fp16", DType::Float16},
      {"bfloat16", DType::BFloat16}, {"bf16", DType::BFloat16}, {"int32", DType::Int32},
      {"int", DType::Int32},       {"int64", DType::Int64},     {"long", DType::Int64},
      {"uint8", DType::UInt8},     {"bool", DType::Bool},
  };
  for (const auto& a : aliases)
    if (name == a.name) return a.t;
  ICCRT_CHECK_VALUE(false, "unknown dtype '", name,
                    "'; expected one of float32, float64, float16, bfloat16, int32, int64, uint8, bool");
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

}  // namespace iccrt
