// What committing a layer costs, and how much of it is the record of its contents
// (LayerContents, for verify): copies TREE into a build of a scratch store RUNS times
// and times Store::Build::commit, then LayerContents::of_tree alone on the committed
// layer. Prints medians in ms. The page cache is warm: this measures the walk and the
// hashing, not the disk.

#include "graph/key_encoder.hpp"
#include "store/layer_contents.hpp"
#include "store/store.hpp"
#include "util/file_tree.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fputs("usage: bench-commit TREE STORE RUNS\n", stderr);
        return 2;
    }
    try {
        using Clock = std::chrono::steady_clock;
        const bincastle::Store store(argv[2]);
        std::vector<double> copy, commit, contents;
        std::size_t entries = 0;
        for (int run = 0; run < std::stoi(argv[3]); ++run) {
            const bincastle::Key key = bincastle::hash_bytes("bench-commit " + std::to_string(run));
            auto lock = store.lock(key);
            auto build = store.begin(key);
            auto start = Clock::now();
            bincastle::copy_tree(argv[1], build.fs());
            copy.push_back(ms_since(start));
            start = Clock::now();
            const auto layer = build.commit("name=bench-commit\n");
            commit.push_back(ms_since(start));
            start = Clock::now();
            entries = bincastle::LayerContents::of_tree(layer).entries.size();
            contents.push_back(ms_since(start));
            store.forget(key);
        }
        std::printf("entries=%zu copy_ms=%.1f commit_ms=%.1f contents_ms=%.1f commit_without_contents_ms=%.1f\n", entries,
                    median(copy), median(commit), median(contents), median(commit) - median(contents));
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench-commit: %s\n", error.what());
        return 1;
    }
}
