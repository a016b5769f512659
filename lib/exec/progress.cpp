#include "exec/progress.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <thread>

namespace bincastle {

std::string json_quote(const std::string& text) {
    std::string quoted = "\"";
    for (unsigned char c : text) {
        switch (c) {
        case '"': quoted += "\\\""; break;
        case '\\': quoted += "\\\\"; break;
        case '\n': quoted += "\\n"; break;
        case '\t': quoted += "\\t"; break;
        case '\r': quoted += "\\r"; break;
        default:
            if (c < 0x20) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                quoted += escaped;
            } else {
                quoted += static_cast<char>(c);
            }
        }
    }
    return quoted + "\"";
}

namespace {

const char* kind_name(ProgressEvent::Kind kind) {
    switch (kind) {
    case ProgressEvent::Kind::queued: return "queued";
    case ProgressEvent::Kind::started: return "started";
    case ProgressEvent::Kind::cached: return "cached";
    case ProgressEvent::Kind::built: return "built";
    case ProgressEvent::Kind::failed: return "failed";
    case ProgressEvent::Kind::skipped: return "skipped";
    case ProgressEvent::Kind::output: return "output";
    }
    return "?";
}

class View : public ProgressSink {
public:
    View(ProgressFormat format, bool verbose, std::FILE* out) : format_(format), verbose_(verbose), out_(out) {}

    void event(const ProgressEvent& event) override {
        if (event.kind == ProgressEvent::Kind::output && !verbose_) return;
        std::lock_guard lock(mutex_);
        if (format_ == ProgressFormat::json) write_json(event);
        else write_plain(event);
        std::fflush(out_);
    }

private:
    void write_json(const ProgressEvent& event) {
        std::fprintf(out_, "{\"event\": \"%s\", \"layer\": %s, \"key\": \"%s\"", kind_name(event.kind),
                     json_quote(event.layer).c_str(), event.key.hex().c_str());
        if (event.kind == ProgressEvent::Kind::cached || event.kind == ProgressEvent::Kind::built ||
            event.kind == ProgressEvent::Kind::failed)
            std::fprintf(out_, ", \"seconds\": %.3f", event.seconds);
        if (!event.text.empty()) std::fprintf(out_, ", \"text\": %s", json_quote(event.text).c_str());
        std::fputs("}\n", out_);
    }

    void write_plain(const ProgressEvent& event) {
        switch (event.kind) {
        case ProgressEvent::Kind::queued:
            break;
        case ProgressEvent::Kind::output:
            std::fprintf(out_, "%s | %s\n", event.layer.c_str(), event.text.c_str());
            break;
        case ProgressEvent::Kind::started:
            std::fprintf(out_, "building %s\n", event.layer.c_str());
            break;
        case ProgressEvent::Kind::failed:
            std::fprintf(out_, "failed   %s (%.1fs)\n%s", event.layer.c_str(), event.seconds, event.text.c_str());
            break;
        case ProgressEvent::Kind::skipped:
            std::fprintf(out_, "skipped  %s: %s\n", event.layer.c_str(), event.text.c_str());
            break;
        default:
            std::fprintf(out_, "%-8s %s (%.1fs)\n", kind_name(event.kind), event.layer.c_str(), event.seconds);
        }
    }

    ProgressFormat format_;
    bool verbose_;
    std::FILE* out_;
    std::mutex mutex_;
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
            if (building_.erase(event.layer) || event.kind != ProgressEvent::Kind::cached) ++finished_;
            break;
        case ProgressEvent::Kind::output: break;
        }
        lines_.event(event);
        draw();
    }

private:
    using Clock = std::chrono::steady_clock;

    void clear() { std::fputs("\r\x1b[K", out_); }

    void draw() {
        if (building_.empty()) return;
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
