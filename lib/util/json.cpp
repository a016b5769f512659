// Boost.JSON, compiled into libbincastle once (Debian ships it as headers plus a shared
// library; the static driver must not need the latter).
#include <boost/json/src.hpp>
