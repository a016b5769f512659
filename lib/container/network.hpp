#pragma once

namespace bincastle::container {

// A new network namespace starts with `lo` down; bring it up.
void bring_up_loopback();

}  // namespace bincastle::container
