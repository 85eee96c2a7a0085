// A first program against the installed iccrt package: tensors, views, a matmul and reductions, checked
// against values computed by hand so that the install test can fail. Exits non-zero on any mismatch.
#include <cmath>
#include <cstdio>
#include <iccrt/iccrt.hpp>

namespace {
int failures = 0;
void expect_near(const char* what, double got, double want) {
  const bool ok = std::fabs(got - want) <= 1e-5 * (1 + std::fabs(want));
  std::printf("%-32s %12.6f  (expected %12.6f) %s\n", what, got, want, ok ? "ok" : "MISMATCH");
  if (!ok) ++failures;
}
}  // namespace

int main() {
  using namespace iccrt;
  std::printf("%s", build_config().c_str());

  // a = [[0, 1, 2], [3, 4, 5]] as float32; b = a^T as a view (no copy)
  Tensor a = arange(0, 6, 1, DType::Float32).view({2, 3});
  Tensor b = a.t();
  Tensor c = matmul(a, b);  // [[5, 14], [14, 50]]
  expect_near("matmul(a, a^T)[0][0]", c.get({0, 0}), 5);
  expect_near("matmul(a, a^T)[0][1]", c.get({0, 1}), 14);
  expect_near("matmul(a, a^T)[1][1]", c.get({1, 1}), 50);

  Tensor s = sum(a, {1});  // [3, 12]
  expect_near("sum(a, dim=1)[1]", s.get({1}), 12);
  expect_near("mean(a)", mean(a).item<double>(), 2.5);
  expect_near("var(a)", var(a).item<double>(), 3.5);

  Tensor bf = (a * 0.5).to(DType::BFloat16);  // exactly representable halves
  expect_near("bfloat16 max(a * 0.5)", max(bf).item<double>(), 2.5);

  Tensor g = gelu(a.narrow(1, 1, 1));  // gelu(1), gelu(4)
  expect_near("gelu(1)", g.get({0, 0}), 0.5 * (1 + std::erf(1 / std::sqrt(2.0))));

  try {
    (void)add(a, ones({4}));
    std::printf("expected a ShapeError for [2, 3] + [4]\n");
    ++failures;
  } catch (const ShapeError& e) {
    std::printf("ShapeError as expected: %s\n", e.what());
  }
  std::printf(failures ? "FAILED (%d)\n" : "all checks passed\n", failures);
  return failures ? 1 : 0;
}
