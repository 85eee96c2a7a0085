#pragma once
// Checkpoint files in the safetensors format (https://github.com/huggingface/safetensors):
//
//   [8 bytes]  N, little-endian uint64: the header length
//   [N bytes]  UTF-8 JSON: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...],
//              "data_offsets": [begin, end]}, ...}, padded with spaces so that 8 + N is a multiple of 8
//   [rest]     the tensors' bytes, little-endian, row-major, packed without gaps; offsets are relative to here
//
// dtypes: F32 F64 F16 BF16 I32 I64 U8 BOOL (iccrt's eight). Files written here are read by the reference
// implementation and the other way round.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "iccrt/core/device.hpp"
#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt {

struct TensorFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in the order of their data in the file
  std::map<std::string, std::string> metadata;          // the "__metadata__" entry (empty when absent)
};

// Writes `tensors` (in this order) and `metadata` to `path`.
// Needs: defined tensors of any dtype and device, any layout (non-contiguous views and CUDA tensors are copied
// to a contiguous host buffer one at a time while writing); names unique, not "__metadata__", and names and
// metadata valid UTF-8 (ValueError otherwise).
// Promises: the file appears atomically. Data goes to "<path>.tmp.<pid>" in the same directory, is fsync'ed and
// renamed over `path`; on any failure the temporary file is removed, an existing `path` is left untouched and
// Error (I/O, naming the path and the system's reason) or ValueError (bad arguments) is raised.
ICCRT_API void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                                const std::map<std::string, std::string>& metadata = {});

// Reads `path`. Tensors come back contiguous, on `device` (CPU by default), in file-data order (the order they
// were saved in, for files written by save_safetensors).
// Raises Error naming the path and the system's reason when the file cannot be opened or read, and ValueError
// "<path>: not a valid safetensors file: <reason>" for anything malformed: a truncated file, a header length
// beyond the file or above 100 MB, invalid JSON or UTF-8, missing or unknown keys, an unknown dtype, negative
// dimensions, a size that does not match the data offsets, offsets out of range, overlapping or leaving gaps,
// a non-string metadata value. Memory is allocated only for sizes already checked against the file size.
ICCRT_API TensorFile load_safetensors(const std::string& path, Device device = Device());

}  // namespace iccrt
