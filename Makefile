# Thin wrapper: the work is in scripts/ and CMake. Both targets install what is missing, then build
# incrementally (seconds when nothing changed).
BUILD_DIR ?= build
export BUILD_DIR

.PHONY: demo test build setup bench format clean
demo: build
	@scripts/demo.sh
test: build
	@scripts/test.sh
build: setup
	@scripts/build.sh
setup:
	@scripts/setup.sh
bench: build
	@python3 benchmarks/report_kernels.py --bench $(BUILD_DIR)/benchmarks/iccrt_kernel_bench
format:
	@git ls-files '*.cpp' '*.hpp' '*.cu' '*.cuh' | xargs clang-format -i
clean:
	rm -rf $(BUILD_DIR)
