#pragma once

// A definition program's main hands its system to bincastle::main:
//
//     int main(int argc, char** argv) {
//         return bincastle::main(argc, argv, bincastle::Layer(bincastle::Name("system"), ...));
//     }
//
// which gives the program the verbs build, run, graph, keys and sandbox (see --help).

#include <bincastle/export.hpp>
#include <bincastle/layer.hpp>

#include <source_location>

namespace bincastle {

// LocalDir paths are relative to the directory of the file that calls this (the
// definition's main.cpp), unless BINCASTLE_DEFINITION_DIR says otherwise.
BINCASTLE_API int main(int argc, char** argv, const Layer& system,
                       std::source_location caller = std::source_location::current());

}  // namespace bincastle
