#pragma once
// One export macro for the shared library; everything else is hidden (-fvisibility=hidden).
#if defined(ICCRT_BUILDING_LIBRARY)
#define ICCRT_API __attribute__((visibility("default")))
#else
#define ICCRT_API
#endif

// Functions usable from both host and CUDA device code.
#if defined(__CUDACC__)
#define ICCRT_HD __host__ __device__
#else
#define ICCRT_HD
#endif
