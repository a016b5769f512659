#pragma once

// The default seccomp filter of a container (Spec::seccomp), through libseccomp.

#include <span>

namespace bincastle::container {

// The system calls the default filter refuses with EPERM, by name; a call this
// machine's architecture lacks (iopl off x86) is left out of the filter.
std::span<const char* const> refused_syscalls();

// Installs the default filter in the calling process, for good: it and every process
// it starts get EPERM from the calls above and from any call made through another
// architecture's ABI (32-bit x86 and x32 on x86-64). Everything else stays allowed.
// Sets no_new_privs; the caller must be single-threaded.
void install_default_filter();

}  // namespace bincastle::container
