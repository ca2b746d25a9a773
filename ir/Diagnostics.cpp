#include "ir/Diagnostics.h"

namespace kiln {

namespace {
thread_local const DiagnosticSink *t_sink = nullptr;
} // namespace

const DiagnosticSink *current_diagnostics() { return t_sink; }

ScopedDiagnostics::ScopedDiagnostics(const DiagnosticSink *sink) : previous_(t_sink) {
  t_sink = sink;
}
ScopedDiagnostics::~ScopedDiagnostics() { t_sink = previous_; }

void log(LogSeverity s, const std::string &message) {
  const DiagnosticSink *sink = t_sink;
  if (sink && sink->log && static_cast<int>(s) <= static_cast<int>(sink->level))
    sink->log(s, message);
}

void progress(const std::string &stage, int done, int total, const DiagnosticSink *sink) {
  if (!sink)
    sink = t_sink;
  if (sink && sink->progress)
    sink->progress(stage, done, total);
}

} // namespace kiln
