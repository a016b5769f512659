#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>

#include <doctest/doctest.h>

using bincastle::cli::parse_sandbox_args;
using namespace bincastle::container;

namespace {
std::vector<std::string> words(std::initializer_list<const char*> list) { return {list.begin(), list.end()}; }
}  // namespace

TEST_CASE("a rootfs and a command") {
    auto command = parse_sandbox_args(words({"/r", "--", "sh", "-c", "echo hi"}), false);
    CHECK_FALSE(command.help);
    CHECK(command.spec.rootfs == "/r");
    CHECK(command.spec.args == words({"sh", "-c", "echo hi"}));
    CHECK(command.spec.network == Network::none);
    CHECK(command.spec.hostname == "bincastle");
    CHECK_FALSE(command.spec.tty);
    CHECK(command.spec.forward_signals);
}

TEST_CASE("every option") {
    auto command = parse_sandbox_args(
        words({"--layer", "/l0", "--layer=/l1", "--upper", "/u", "--bind", "/a:/x", "--ro-bind",
               "/b:c:/y", "--tmpfs", "/t", "--hostname", "h", "--setenv", "A=1", "--setenv", "B=",
               "--chdir", "/w", "--uid", "1000", "--gid", "100", "--net", "host", "--pids-max",
               "50", "--memory-max", "64M", "--cpus", "0.5", "--init", "--subids", "--die-with-parent=42",
               "--", "true"}),
        true);
    const Spec& spec = command.spec;
    CHECK(spec.layers == words({"/l0", "/l1"}));
    CHECK(spec.upper == "/u");
    REQUIRE(spec.mounts.size() == 3);
    CHECK(spec.mounts[0].kind == Mount::Kind::bind);
    CHECK(spec.mounts[0].source == "/a");
    CHECK(spec.mounts[0].target == "/x");
    CHECK(spec.mounts[1].kind == Mount::Kind::ro_bind);
    CHECK(spec.mounts[1].source == "/b:c");
    CHECK(spec.mounts[1].target == "/y");
    CHECK(spec.mounts[2].kind == Mount::Kind::tmpfs);
    CHECK(spec.hostname == "h");
    CHECK(spec.env == words({"A=1", "B="}));
    CHECK(spec.cwd == "/w");
    CHECK(spec.uid == 1000);
    CHECK(spec.gid == 100);
    CHECK(spec.network == Network::host);
    CHECK(spec.limits.pids_max == 50u);
    CHECK(spec.limits.memory_max == 64u << 20);
    CHECK(spec.limits.cpus == doctest::Approx(0.5));
    CHECK(spec.init);
    CHECK(spec.subids);
    CHECK(spec.tty);  // stdin is a terminal
    CHECK(command.die_with_parent);
    CHECK(command.expected_parent == 42);
    CHECK_FALSE(parse_sandbox_args(words({"/r", "--die-with-parent", "--", "x"}), false).expected_parent);
}

TEST_CASE("--no-tty wins over a terminal, --tty over none") {
    CHECK_FALSE(parse_sandbox_args(words({"/r", "--no-tty", "--", "true"}), true).spec.tty);
    CHECK(parse_sandbox_args(words({"/r", "--tty", "--", "true"}), false).spec.tty);
}

TEST_CASE("--seccomp: the default filter unless it is off") {
    CHECK(parse_sandbox_args(words({"/r", "--", "true"}), false).spec.seccomp == Seccomp::default_filter);
    CHECK(parse_sandbox_args(words({"/r", "--seccomp=off", "--", "true"}), false).spec.seccomp == Seccomp::off);
    CHECK(parse_sandbox_args(words({"/r", "--seccomp=off", "--seccomp", "default", "--", "true"}), false)
              .spec.seccomp == Seccomp::default_filter);
    CHECK_THROWS_AS(parse_sandbox_args(words({"/r", "--seccomp=strict", "--", "x"}), false), bincastle::Error);
    CHECK_THROWS_AS(parse_sandbox_args(words({"/r", "--seccomp"}), false), bincastle::Error);
}

TEST_CASE("help") {
    CHECK(parse_sandbox_args(words({"--help"}), false).help);
    CHECK(parse_sandbox_args(words({"/r", "-h", "--", "x"}), false).help);
}

TEST_CASE("usage errors") {
    auto bad = [](std::initializer_list<const char*> list) {
        CHECK_THROWS_AS(parse_sandbox_args(words(list), false), bincastle::Error);
    };
    bad({"/r", "true"});                        // no --
    bad({"/r", "--"});                          // no command
    bad({"--", "true"});                        // no root
    bad({"/r", "--layer", "/l", "--", "x"});    // both
    bad({"/r", "--upper", "/u", "--", "x"});    // upper without layers
    bad({"/r", "--bogus", "--", "x"});
    bad({"/r", "--net", "wifi", "--", "x"});
    bad({"/r", "-p", "8080:80", "--", "x"});                    // a port without --net user
    bad({"/r", "--net", "user", "-p", "8080", "--", "x"});
    bad({"/r", "--net", "user", "-p", "0:80", "--", "x"});
    bad({"/r", "--net", "user", "-p", "[::1]:80:80", "--", "x"});
    bad({"/r", "--net", "user", "-p", "localhost\",\"x:80:80", "--", "x"});
    bad({"/r", "--net-host-loopback", "--", "x"});
    bad({"/r", "--boot", "--init", "--", "x"});
    bad({"/r", "--pids-max", "many", "--", "x"});
    bad({"/r", "--pids-max", "0", "--", "x"});
    bad({"/r", "--cpus", "-1", "--", "x"});
    bad({"/r", "--uid", "-5", "--", "x"});
    bad({"/r", "--bind", "/a", "--", "x"});
    bad({"/r", "--bind", "/a:rel", "--", "x"});
    bad({"/r", "--setenv", "NOVALUE", "--", "x"});
    bad({"/r", "--init=yes", "--", "x"});
    bad({"/r", "--no-leftovers", "--", "x"});
    bad({"/r", "--die-with-parent=me", "--", "x"});
    bad({"/r", "--layer"});
    bad({"/r", "/s", "--", "x"});
}

namespace {

// Everything sandbox_args carries, as one comparable text.
std::string describe(const bincastle::cli::SandboxCommand& command) {
    const Spec& spec = command.spec;
    std::string text = spec.rootfs + "|" + spec.upper + "|" + spec.cwd + "|" + spec.hostname + "|" +
                       std::to_string(spec.uid) + ":" + std::to_string(spec.gid) + "|" +
                       std::to_string(spec.subids) + std::to_string(spec.tty) + std::to_string(spec.init) + std::to_string(spec.no_leftovers) + std::to_string(spec.fuse_overlay) + std::to_string(spec.boot) +
                       std::to_string(static_cast<int>(spec.seccomp)) + "|" +
                       std::to_string(static_cast<int>(spec.network)) + "|" +
                       std::to_string(spec.limits.pids_max.value_or(0)) + "," +
                       std::to_string(spec.limits.memory_max.value_or(0)) + "," +
                       std::to_string(spec.limits.cpus.value_or(0)) + "|" + std::to_string(command.die_with_parent) + std::to_string(command.quiet) +
                       std::to_string(command.expected_parent.value_or(-1)) + "|";
    for (const auto& layer : spec.layers) text += "layer " + layer + ";";
    for (const auto& mount : spec.mounts)
        text += std::to_string(static_cast<int>(mount.kind)) + " " + mount.source + " " + mount.target + ";";
    for (const auto& entry : spec.env) text += "env " + entry + ";";
    for (const auto& arg : spec.args) text += "arg " + arg + ";";
    for (const auto& port : spec.ports)
        text += "port " + port.host_address + ":" + std::to_string(port.host_port) + ":" +
                std::to_string(port.container_port) + ";";
    text += spec.host_loopback ? "host-loopback;" : "";
    return text;
}

}  // namespace

TEST_CASE("a spec turned into sandbox arguments parses back into itself") {
    bincastle::cli::SandboxCommand command;
    Spec& spec = command.spec;
    spec.layers = {"/l0", "/l 1"};
    spec.upper = "/u";
    spec.mounts = {{Mount::Kind::bind, "/a:b", "/x"}, {Mount::Kind::ro_bind, "/b", "/y"}, {Mount::Kind::tmpfs, "", "/t"}};
    spec.args = {"sh", "-c", "echo -- --layer"};
    spec.env = {"A=1", "B=", "C=x=y"};
    spec.cwd = "/w";
    spec.hostname = "h";
    spec.uid = 1000;
    spec.gid = 100;
    spec.subids = true;
    spec.network = Network::host;
    spec.limits = {50, 64u << 20, 0.25};
    spec.tty = true;
    spec.init = true;
    spec.no_leftovers = true;
    spec.fuse_overlay = true;
    spec.seccomp = Seccomp::off;
    command.die_with_parent = true;
    command.expected_parent = 42;
    command.quiet = true;
    CHECK(describe(parse_sandbox_args(bincastle::cli::sandbox_args(command), false)) == describe(command));

    bincastle::cli::SandboxCommand networked;
    networked.spec.rootfs = "/r";
    networked.spec.args = {"true"};
    networked.spec.network = Network::user;
    networked.spec.ports = {{"127.0.0.1", 8080, 80}, {"0.0.0.0", 2222, 22}};
    networked.spec.host_loopback = true;
    CHECK(describe(parse_sandbox_args(bincastle::cli::sandbox_args(networked), false)) == describe(networked));
    networked.spec.network = Network::bridge;
    networked.spec.ports.clear();
    networked.spec.host_loopback = false;
    CHECK(describe(parse_sandbox_args(bincastle::cli::sandbox_args(networked), false)) == describe(networked));

    bincastle::cli::SandboxCommand booting;
    booting.spec.rootfs = "/r";
    booting.spec.args = {"/sbin/init"};
    booting.spec.boot = true;
    CHECK(describe(parse_sandbox_args(bincastle::cli::sandbox_args(booting), false)) == describe(booting));

    bincastle::cli::SandboxCommand plain;
    plain.spec.rootfs = "/r";
    plain.spec.args = {"true"};
    CHECK(describe(parse_sandbox_args(bincastle::cli::sandbox_args(plain), true)) == describe(plain));
}
