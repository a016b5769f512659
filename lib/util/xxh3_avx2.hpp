#pragma once

#include <cstddef>

namespace bincastle {

// XXH3_128bits_update on an XXH3_state_t, with AVX2 (only where the CPU has it).
void xxh3_128_update_avx2(void* state, const void* data, std::size_t size);

}  // namespace bincastle
