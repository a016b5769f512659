#pragma once

// Plans of evaluated definitions, cached in <store>/definitions/plans/<key>.json, so
// that a warm run evaluates nothing. The key covers what an evaluation can depend on:
// the compiled program (its cache entry and fingerprint), its arguments, its working
// directory and its environment (a fixed one). Overrides of sources do not reach the
// program (the driver applies them to the plan), so they are not part of it. Files of
// the repository that the program reads while it evaluates are not either: edited,
// they are seen at the next compile.

#include "driver/driver_command.hpp"

#include <bincastle/key.hpp>
#include <bincastle/plan.hpp>

#include <filesystem>
#include <optional>

namespace bincastle::driver {

class PlanCache {
public:
    explicit PlanCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

    static Key key_of(const ProgramLaunch& launch);

    // A plan that does not read back (a crash, a full disk, another version) is a miss.
    std::optional<Plan> find(const Key& key) const;
    // Written whole (a temporary file, renamed), or not at all.
    void store(const Key& key, const Plan& plan) const;

private:
    std::filesystem::path dir_;
};

}  // namespace bincastle::driver
