#include "exec/slurm_engine.hpp"

#include "util/command_output.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <set>
#include <sstream>

namespace bincastle {

namespace {

// The first line of what a client said, for one line of error.
std::string first_line(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    return line.empty() ? "(it said nothing)" : line;
}

// The value of FIELD in a `scontrol -o` line: what follows " FIELD=" up to the next space.
std::string field(const std::string& line, const std::string& name) {
    std::size_t at = line.rfind(name + "=", 0) == 0 ? 0 : line.find(" " + name + "=");
    if (at == std::string::npos) return "";
    at = line.find('=', at) + 1;
    return line.substr(at, line.find(' ', at) - at);
}

JobStatus::State state_of(const std::string& state) {
    using State = JobStatus::State;
    static const std::set<std::string> queued = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                                                  "RESV_DEL_HOLD", "SUSPENDED", "STOPPED", "RESIZING"};
    // COMPLETING: the script has ended, the node is cleaning up: not final yet.
    static const std::set<std::string> running = {"RUNNING", "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT"};
    if (queued.count(state)) return State::queued;
    if (running.count(state)) return State::running;
    if (state == "COMPLETED") return State::succeeded;
    if (state == "NODE_FAIL" || state == "BOOT_FAIL") return State::node_failed;
    return State::failed;
}

}  // namespace

std::pair<std::string, JobStatus> parse_scontrol_job(const std::string& line) {
    const std::string id = field(line, "JobId");
    if (id.empty()) throw Error("scontrol printed a job without a JobId: " + line.substr(0, 200));
    const std::string state = field(line, "JobState");
    JobStatus status{state_of(state), field(line, "BatchHost"), state};
    if (status.node.empty() || status.node == "(null)") status.node = field(line, "NodeList");
    if (status.node == "(null)") status.node.clear();
    if (const std::string reason = field(line, "Reason"); !reason.empty() && reason != "None")
        status.detail += " (" + reason + ")";
    if (const std::string exit = field(line, "ExitCode"); !exit.empty()) status.detail += ", exit code " + exit;
    return {id, status};
}

std::string SlurmEngine::submit(const JobSubmission& job) {
    TempDir dir("bincastle-sbatch");
    const std::string script = (dir.path() / "job.sh").string();
    write_new_file(script, job.script);
    // --no-requeue: a job whose node fails ends as NODE_FAIL, and the driver submits it
    // again once, as it does for every engine, instead of Slurm requeueing it forever.
    std::vector<std::string> argv = {"sbatch", "--parsable", "--no-requeue", "--job-name=" + job.name,
                                     "--output=/dev/null"};
    if (!settings_.partition.empty()) argv.push_back("--partition=" + settings_.partition);
    argv.insert(argv.end(), settings_.options.begin(), settings_.options.end());
    argv.push_back(script);
    const CommandOutput result = run_for_output(argv);
    if (result.status != 0) throw Error("slurm refused the job " + job.name + ": " + first_line(result.err));
    // "ID" or "ID;CLUSTER".
    std::string id = first_line(result.out);
    id = id.substr(0, id.find(';'));
    if (id.empty() || id.find_first_not_of("0123456789_") != std::string::npos)
        throw Error("sbatch answered '" + first_line(result.out) + "' instead of a job id");
    return id;
}

std::shared_ptr<JobEngine> make_slurm_engine(std::string partition, std::vector<std::string> sbatch_options) {
    return std::make_shared<SlurmEngine>(SlurmSettings{std::move(partition), std::move(sbatch_options)});
}

std::map<std::string, JobStatus> SlurmEngine::poll(const std::vector<std::string>& ids) {
    std::map<std::string, JobStatus> statuses;
    for (const auto& id : ids) statuses[id] = {JobStatus::State::gone, "", "no longer known to slurm"};
    // Every job at once: one call, whatever the number of jobs.
    const CommandOutput result = run_for_output({"scontrol", "--oneliner", "show", "job"});
    if (result.status != 0) throw Error("scontrol show job failed: " + first_line(result.err));
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("JobId=", 0) != 0) continue;
        auto [id, status] = parse_scontrol_job(line);
        if (auto it = statuses.find(id); it != statuses.end()) it->second = status;
    }
    return statuses;
}

}  // namespace bincastle
