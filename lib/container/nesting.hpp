#pragma once

namespace bincastle::container {

// Inside a bincastle container, /proc carries read-only submounts (/proc/sys, ...).
// A new user namespace would inherit them locked, and the kernel refuses a fresh
// procfs while a locked mount covers part of an existing one. So before creating
// a nested container, root of the outer one moves this process to a private mount
// namespace and drops those submounts there. It gives nothing away: that root can
// already unmount them. Does nothing when there is nothing to drop.
void unmask_proc_for_nested_container();

}  // namespace bincastle::container
