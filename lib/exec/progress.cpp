#include <bincastle/progress.hpp>

#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

namespace bincastle {

namespace {

std::string json_quote(const std::string& text) { return boost::json::serialize(boost::json::string(text)); }

const char* kind_name(ProgressEvent::Kind kind) {
    switch (kind) {
    case ProgressEvent::Kind::queued: return "queued";
    case ProgressEvent::Kind::started: return "started";
    case ProgressEvent::Kind::cached: return "cached";
    case ProgressEvent::Kind::built: return "built";
    case ProgressEvent::Kind::failed: return "failed";
    case ProgressEvent::Kind::skipped: return "skipped";
    case ProgressEvent::Kind::output: return "output";
    case ProgressEvent::Kind::pulled: return "pulled";
    case ProgressEvent::Kind::pushed: return "pushed";
    case ProgressEvent::Kind::submitted: return "submitted";
    }
    return "?";
}

class View : public ProgressSink {
public:
    View(ProgressFormat format, bool verbose, std::FILE* out) : format_(format), verbose_(verbose), out_(out) {}

    ~View() override { flush(); }

    void event(const ProgressEvent& event) override {
        if (event.kind == ProgressEvent::Kind::output && !verbose_) return;
        std::lock_guard lock(mutex_);
        if (format_ == ProgressFormat::json) write_json(event);
        else write_plain(event);
        // The queued and cached events of a whole graph come at once, before any build
        // starts: written together (at the first other event, or flush()), not with a
        // write(2) each, which was a tenth of a no-op's time on 1,000 layers.
        bool burst = event.kind == ProgressEvent::Kind::queued || event.kind == ProgressEvent::Kind::cached;
        if (!holding_ || !burst || pending_.size() > 60000) {
            holding_ = holding_ && burst;
            write_pending();
        }
    }

    void flush() override {
        std::lock_guard lock(mutex_);
        holding_ = false;
        write_pending();
    }

private:
    void write_pending() {
        if (!pending_.empty()) std::fwrite(pending_.data(), 1, pending_.size(), out_);
        pending_.clear();
        std::fflush(out_);
    }

    void print(const char* format, ...) __attribute__((format(printf, 2, 3))) {
        char line[512];
        std::va_list args;
        va_start(args, format);
        int n = std::vsnprintf(line, sizeof line, format, args);
        va_end(args);
        if (n < 0) return;
        if (static_cast<std::size_t>(n) < sizeof line) {
            pending_.append(line, static_cast<std::size_t>(n));
            return;
        }
        std::string longer(static_cast<std::size_t>(n) + 1, '\0');
        va_start(args, format);
        std::vsnprintf(longer.data(), longer.size(), format, args);
        va_end(args);
        pending_.append(longer.data(), static_cast<std::size_t>(n));
    }

    void write_json(const ProgressEvent& event) {
        print("{\"event\": \"%s\", \"layer\": %s, \"key\": \"%s\"", kind_name(event.kind),
              json_quote(event.layer).c_str(), event.key.hex().c_str());
        if (event.kind == ProgressEvent::Kind::cached || event.kind == ProgressEvent::Kind::built ||
            event.kind == ProgressEvent::Kind::failed || event.kind == ProgressEvent::Kind::pulled ||
            event.kind == ProgressEvent::Kind::pushed)
            print(", \"seconds\": %.3f", event.seconds);
        if (!event.text.empty()) pending_ += ", \"text\": " + json_quote(event.text);
        pending_ += "}\n";
    }

    void write_plain(const ProgressEvent& event) {
        switch (event.kind) {
        case ProgressEvent::Kind::queued:
            break;
        case ProgressEvent::Kind::output:
            pending_ += event.layer + " | " + event.text + "\n";
            break;
        case ProgressEvent::Kind::started:
            pending_ += "building " + event.layer + (event.text.empty() ? "" : " " + event.text) + "\n";
            break;
        case ProgressEvent::Kind::submitted:
            pending_ += "submitted " + event.layer + " (" + event.text + ")\n";
            break;
        case ProgressEvent::Kind::failed:
            print("failed   %s (%.1fs)\n", event.layer.c_str(), event.seconds);
            pending_ += event.text;
            break;
        case ProgressEvent::Kind::skipped:
            pending_ += "skipped  " + event.layer + ": " + event.text + "\n";
            break;
        default:
            print("%-8s %s (%.1fs)\n", kind_name(event.kind), event.layer.c_str(), event.seconds);
        }
    }

    ProgressFormat format_;
    bool verbose_;
    std::FILE* out_;
    std::mutex mutex_;
    std::string pending_;  // written, not yet on out_
    bool holding_ = true;  // until the first event that is not queued or cached
};

// The plain lines, with a status line kept under them: "[3/9] building: musl 12s, zlib 3s".
class TerminalView : public ProgressSink {
public:
    TerminalView(bool verbose, std::FILE* out) : lines_(ProgressFormat::plain, verbose, out), out_(out) {
        ticker_ = std::thread([this] {
            std::unique_lock lock(mutex_);
            while (!stopping_) {
                draw();
                wake_.wait_for(lock, std::chrono::milliseconds(500));
            }
        });
    }
    ~TerminalView() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            clear();
        }
        wake_.notify_all();
        ticker_.join();
    }

    void event(const ProgressEvent& event) override {
        std::lock_guard lock(mutex_);
        clear();
        switch (event.kind) {
        case ProgressEvent::Kind::queued: ++total_; break;
        case ProgressEvent::Kind::started: building_[event.layer] = Clock::now(); break;
        case ProgressEvent::Kind::cached:
        case ProgressEvent::Kind::built:
        case ProgressEvent::Kind::failed:
        case ProgressEvent::Kind::skipped:
        case ProgressEvent::Kind::pulled:
            if (building_.erase(event.layer) || event.kind != ProgressEvent::Kind::cached) ++finished_;
            break;
        case ProgressEvent::Kind::output:
        case ProgressEvent::Kind::submitted:
        case ProgressEvent::Kind::pushed: break;
        }
        lines_.event(event);
        draw();
    }

    void flush() override {
        std::lock_guard lock(mutex_);
        lines_.flush();
    }

private:
    using Clock = std::chrono::steady_clock;

    void clear() { std::fputs("\r\x1b[K", out_); }

    void draw() {
        if (building_.empty()) return;
        lines_.flush();  // the lines go above the status line
        std::string status = "[" + std::to_string(finished_) + "/" + std::to_string(total_) + "] building:";
        for (const auto& [layer, since] : building_) {
            auto seconds = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - since).count();
            status += " " + layer + " " + std::to_string(seconds) + "s,";
        }
        status.pop_back();
        clear();
        std::fputs(status.c_str(), out_);
        std::fflush(out_);
    }

    View lines_;
    std::FILE* out_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::size_t total_ = 0, finished_ = 0;
    std::map<std::string, Clock::time_point> building_;
    std::thread ticker_;
};

}  // namespace

std::unique_ptr<ProgressSink> make_progress_view(ProgressFormat format, bool verbose, std::FILE* out) {
    if (format == ProgressFormat::tty) return std::make_unique<TerminalView>(verbose, out);
    return std::make_unique<View>(format, verbose, out);
}

}  // namespace bincastle
