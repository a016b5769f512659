#pragma once

// libbincastle is built with hidden visibility; only what is marked here is its API.
#if defined(BINCASTLE_BUILDING_LIBRARY)
#define BINCASTLE_API __attribute__((visibility("default")))
#else
#define BINCASTLE_API
#endif
