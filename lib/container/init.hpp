#pragma once

#include <string>
#include <sys/types.h>

namespace bincastle::container {

// The minimal init of `--init`: as pid 1 it reaps every orphan that the kernel hands
// it, forwards the signals it receives to `command`, and exits with the command's
// status (128+N when it was killed by signal N). Given a `leftovers_report` fd, a
// command that exits with 0 while processes it started still run is one line there
// naming it (`name`), and exit_setup_failed. Expects all signals blocked.
[[noreturn]] void run_init(pid_t command, int leftovers_report, const std::string& name);

}  // namespace bincastle::container
