#pragma once

// Reading what the caller owns, whatever its modes say.
//
// A rootless build runs as root in a user namespace, so its layer may hold a
// directory of mode 000, or a file nobody may read; on the host these belong to the
// caller, who could read them only by changing their modes: in a store whose layers
// are immutable, and while other processes read the same layer. A process in a user
// namespace of its own, with the caller's ids mapped to themselves, reads them as
// they are: there it holds CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE, which the kernel
// honours only for files whose owner and group are mapped in that namespace, that is
// the caller's own; and what it creates belongs to the caller. Programs it starts keep
// that access (as ambient capabilities).

#include <functional>
#include <string>

namespace bincastle::container {

// Runs `work` in a child process in such a namespace and waits for it; what `work`
// throws is thrown again here. Root needs no namespace: `work` runs in this process.
// Where user namespaces are disabled, the child runs `work` with the caller's rights.
// The child shares this process's memory while the calling thread waits for it, as
// vfork's does, and is killed with it: `work` may allocate, lock and start programs as
// the calling thread could, and leaves in memory what it made. Its descriptors, cwd
// and umask are its own, gone when it ends. A child killed in the middle of `work`
// ends this process with the same signal, since what it held in memory is lost.
void with_owner_access(const std::function<void()>& work);
// The same, for `work` that returns what it read.
std::string read_with_owner_access(const std::function<std::string()>& work);

}  // namespace bincastle::container
