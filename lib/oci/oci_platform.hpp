#pragma once

#include <string>

namespace bincastle::remote {

// This machine's architecture as OCI names it (amd64, arm64, ...).
std::string oci_architecture();

}  // namespace bincastle::remote
