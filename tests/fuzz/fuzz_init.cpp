// The start-up of every fuzz target (linked into each by tests/fuzz/CMakeLists.txt).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  codeclens::set_max_pixels(codeclens::fuzz::kMaxPixels);
  return 0;
}
