#pragma once

#include <sys/types.h>

namespace bincastle::container {

// The minimal init of `--init`: as pid 1 it reaps every orphan that the kernel hands
// it, forwards the signals it receives to `command`, and exits with the command's
// status (128+N when it was killed by signal N). Expects all signals blocked.
[[noreturn]] void run_init(pid_t command);

}  // namespace bincastle::container
