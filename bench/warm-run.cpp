// The system of bench/warm-run, copied there to a main.cpp: a busybox rootfs beside it
// and 49 small layers on it, all in the system's run closure, so that entering it
// mounts 50 layers.
#include <bincastle/main.hpp>

#include <string>
#include <vector>

using namespace bincastle;

int main(int argc, char** argv) {
    Layer base(Name("base"), LocalDir("rootfs"));
    std::vector<Layer> layers;
    for (int i = 1; i < 50; ++i) {
        std::string n = std::to_string(i);
        layers.push_back(Layer(Name("layer-" + n), Dep(base), BuildScript({"mkdir -p /opt", "echo " + n + " > /opt/" + n})));
    }
    return bincastle::main(argc, argv, Layer(Name("warm"), RunDep(base), RunDeps(layers)));
}
