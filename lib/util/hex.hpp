#pragma once

// Bytes as lowercase hex digits: keys, digests.

#include <cstddef>
#include <string>

namespace bincastle {

std::string hex_encode(const unsigned char* bytes, std::size_t size);

}  // namespace bincastle
