#pragma once

// Progress as events, consumed by interchangeable views (a live terminal view, plain
// lines, JSON lines), or by a caller's own ProgressSink.

#include <bincastle/export.hpp>
#include <bincastle/key.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace bincastle {

struct ProgressEvent {
    // pulled: fetched from a remote cache instead of built; pushed: sent to one;
    // submitted: handed to a cluster's job engine (text: "slurm job 12"), then started
    // when the job runs (text: "on NODE (slurm job 12)").
    enum class Kind { queued, started, cached, built, failed, skipped, output, pulled, pushed, submitted };
    Kind kind;
    std::string layer;
    Key key;
    double seconds = 0;  // cached, built, failed, pulled, pushed: how long it took
    std::string text;    // output: one line of the build; failed: why
};

class ProgressSink {
public:
    virtual ~ProgressSink() = default;
    // Called from several build threads at once. A view may hold back the queued and
    // cached events that come before any build starts, and write them at once at the
    // first other event, at flush(), or when it is destroyed.
    virtual void event(const ProgressEvent& event) = 0;
    // Writes whatever is held back.
    virtual void flush() {}
};

enum class ProgressFormat { tty, plain, json };

// Writes events to `out`: "built busybox (12.3s)" lines; on a terminal (tty) the
// same lines with a status line below them, redrawn twice a second, of what is
// building and for how long; or one JSON object per line ({"event": "built",
// "layer": ..., "key": ..., "seconds": ...}). Build output is shown, prefixed with
// the layer's name, only when `verbose`.
BINCASTLE_API std::unique_ptr<ProgressSink> make_progress_view(ProgressFormat format, bool verbose, std::FILE* out);

}  // namespace bincastle
