// The bincastle driver on the host.

#include "driver/driver_main.hpp"
#include "driver/host_main.hpp"

int main(int argc, char** argv) { return bincastle::driver::driver_main(argc, argv, &bincastle::driver::host_main); }
