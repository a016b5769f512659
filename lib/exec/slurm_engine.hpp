#pragma once

// Slurm as a job engine, through its command-line clients: sbatch submits, scontrol
// shows jobs (running, and finished ones for MinJobAge seconds, so no accounting
// database is needed), scancel cancels. They find the cluster as the user's own do
// (SLURM_CONF, /etc/slurm).

#include <bincastle/job_engine.hpp>

namespace bincastle {

struct SlurmSettings {
    std::string partition;              // --partition; empty: the cluster's default
    std::vector<std::string> options;   // more sbatch options, as given
};

class SlurmEngine final : public JobEngine {
public:
    explicit SlurmEngine(SlurmSettings settings) : settings_(std::move(settings)) {}

    std::string name() const override { return "slurm"; }
    std::string submit(const JobSubmission& job) override;
    std::map<std::string, JobStatus> poll(const std::vector<std::string>& ids) override;
    std::vector<std::string> cancel_command() const override { return {"scancel"}; }

private:
    SlurmSettings settings_;
};

// One job of `scontrol show job -o` (one line of KEY=VALUE fields) as a status, and
// its JobId; exposed for tests.
std::pair<std::string, JobStatus> parse_scontrol_job(const std::string& line);

}  // namespace bincastle
