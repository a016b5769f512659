#pragma once

// Checking a store's layers against what they held when they were committed, as
// `nix-store --verify --check-contents` does: `bincastle verify` is this call.
// Committing a layer records every file's type, mode and content hash beside it; a
// layer whose files differ from that record now (a disk error, a hand edit, a crash
// of something outside bincastle) is damaged. Repairing removes a damaged layer, so
// that the next build or pull makes it again.

#include <bincastle/export.hpp>
#include <bincastle/key.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

namespace bincastle {

// A layer whose files are not what was committed.
struct DamagedLayer {
    std::string name;  // from its record; empty when that is gone too
    Key key;
    std::string what;  // what differs: "1 changed, 2 missing (first: etc/passwd, another content)"
    // With repair: whether it was removed, or why not (a running system or a build
    // uses it; another process holds it).
    bool removed = false;
    std::string kept_because;
};

struct VerifyOptions {
    std::filesystem::path store_root;
    bool repair = false;
    // After each layer: how many of `total` are done.
    std::function<void(std::size_t done, std::size_t total)> progress;
    // For each damaged layer, once repair (when asked) is done with it.
    std::function<void(const DamagedLayer&)> damaged;
};

struct VerifySummary {
    std::size_t checked = 0;
    std::size_t damaged = 0;
    std::size_t repaired = 0;  // of the damaged ones, removed
    // Committed before bincastle recorded contents: checked against nothing (a record
    // made now would vouch for whatever they hold now). A rebuild records them.
    std::size_t unverifiable = 0;
    double seconds = 0;
};

// Checks every layer in the store at options.store_root. Layers that other processes
// commit or remove meanwhile are taken as they are found; none is locked while it is
// read. Throws Error when the store itself cannot be read.
BINCASTLE_API VerifySummary verify_store(const VerifyOptions& options);

}  // namespace bincastle
