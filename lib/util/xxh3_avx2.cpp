// XXH3's update step with AVX2, in a translation unit of its own (compiled with
// -mavx2) so that the library still runs on CPUs without it: file_hash picks it at
// run time, as xxhsum's dispatcher does. XXH3 gives the same hash whatever vector
// code computed it, so the state may move between the two.
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

#include "util/xxh3_avx2.hpp"

namespace bincastle {

void xxh3_128_update_avx2(void* state, const void* data, std::size_t size) {
    XXH3_128bits_update(static_cast<XXH3_state_t*>(state), data, size);
}

}  // namespace bincastle
