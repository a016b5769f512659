// Another tool linking the installed libbincastle: runs a command in a sandbox through
// the public API and reports its exit status as its own.
#include <bincastle/container.hpp>
#include <bincastle/error.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: consumer ROOTFS CMD...\n");
        return 2;
    }
    bincastle::container::Spec spec;
    spec.rootfs = argv[1];
    spec.args.assign(argv + 2, argv + argc);
    try {
        return bincastle::container::run(spec);
    } catch (const bincastle::Error& error) {
        std::fprintf(stderr, "consumer: %s\n", error.what());
        return bincastle::container::exit_setup_failed;
    }
}
