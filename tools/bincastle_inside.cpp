// The driver every system has at /bincastle: static, so it runs on any libc; it asks
// the supervisor that started the system for run, build, graph, gc and clean.

#include "driver/driver_main.hpp"

int main(int argc, char** argv) { return bincastle::driver::driver_main(argc, argv, nullptr); }
