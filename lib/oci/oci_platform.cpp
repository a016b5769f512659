#include "oci/oci_platform.hpp"

#include <sys/utsname.h>

namespace bincastle::remote {

std::string oci_architecture() {
    struct utsname name {};
    ::uname(&name);
    const std::string machine = name.machine;
    if (machine == "x86_64") return "amd64";
    if (machine == "aarch64") return "arm64";
    return machine;
}

}  // namespace bincastle::remote
