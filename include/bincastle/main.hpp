#pragma once

// A definition program's main hands its system to bincastle::main:
//
//     int main(int argc, char** argv) {
//         return bincastle::main(argc, argv, bincastle::Layer(bincastle::Name("system"), ...));
//     }
//
// which gives the program its verbs (see --help):
//
//   run       build what is missing, then run the system (the default)
//   build     build what is missing
//   plan      print the plan (every layer's recipe) as JSON; see plan.hpp
//   keys      print each layer's key and name
//   graph     print the layer graph in Graphviz dot
//   sources   print "URL SHA256" for each pinned archive (what a mirror must hold)
//   gc        remove the layers that no system built with this store, and no
//             bincastle process still running, needs
//   clean     remove the whole store
//   sandbox   run a command in a rootless container (bincastle sandbox's options)

#include <bincastle/export.hpp>
#include <bincastle/layer.hpp>

#include <source_location>

namespace bincastle {

// LocalDir paths are relative to the directory of the file that calls this (the
// definition's main.cpp), unless BINCASTLE_DEFINITION_DIR says otherwise.
BINCASTLE_API int main(int argc, char** argv, const Layer& system,
                       std::source_location caller = std::source_location::current());

}  // namespace bincastle
