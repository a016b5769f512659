#pragma once

// A cluster's job engine, as a cluster build (BuildOptions::cluster) uses it: submit a
// shell script as a job, see where each job is, cancel jobs. Slurm is one
// (make_slurm_engine); Kubernetes Jobs, or a caller's own, would be one more
// implementation of this interface.

#include <bincastle/export.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bincastle {

struct JobSubmission {
    std::string name;    // what the engine's listings show
    std::string script;  // a /bin/sh script, run on some node; it sends its own output to its log
};

struct JobStatus {
    enum class State { queued, running, succeeded, failed, node_failed, gone };
    State state = State::queued;
    std::string node;    // where it runs or ran, when known
    std::string detail;  // the engine's own words, for a failure ("FAILED, exit code 1:0")
};

class JobEngine {
public:
    virtual ~JobEngine() = default;
    // "slurm", as the live view names jobs ("slurm job 12").
    virtual std::string name() const = 0;
    // Submits the job; returns its id. Throws an Error with the engine's own reason
    // when it refuses it.
    virtual std::string submit(const JobSubmission& job) = 0;
    // The state of each of `ids` (`gone` for one the engine no longer knows).
    virtual std::map<std::string, JobStatus> poll(const std::vector<std::string>& ids) = 0;
    // The command that cancels jobs, their ids appended: run when the submitter ends
    // before its jobs do (Ctrl-C, a crash), by a process that outlives it.
    virtual std::vector<std::string> cancel_command() const = 0;
};

// Slurm, through its command-line clients (sbatch, scontrol, scancel), which find the
// cluster as the user's own do (SLURM_CONF, /etc/slurm). `partition` empty: the
// cluster's default; `sbatch_options` are passed to sbatch as given.
BINCASTLE_API std::shared_ptr<JobEngine> make_slurm_engine(std::string partition,
                                                           std::vector<std::string> sbatch_options);

}  // namespace bincastle
