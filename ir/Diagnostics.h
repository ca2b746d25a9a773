#pragma once
/// Where the library's messages and compile progress go: to the sink of the API call running
/// on this thread (SessionOptions::log and ::progress, installed by runtime/ for the duration
/// of an open/compile/run), nowhere when there is none. The library never prints on its own.
/// Any layer may report; a worker thread reports through the sink its spawner captured.
///
///   log(LogLevel::warning, "cache file X is corrupt (...); recompiling");
///   progress("codegen", 3, 8);   // 3 of 8 parts compiled
#include <functional>
#include <string>

namespace kiln {

/// The public kiln::LogLevel's values (kiln/kiln.h), in increasing verbosity.
enum class LogSeverity : int { error = 0, warning = 1, info = 2, debug = 3 };

struct DiagnosticSink {
  LogSeverity level = LogSeverity::warning; ///< messages above it are dropped
  std::function<void(LogSeverity, const std::string &)> log;
  std::function<void(const std::string &stage, int done, int total)> progress;
};

/// The sink of this thread's current API call (null when none).
const DiagnosticSink *current_diagnostics();

/// Installs `sink` on this thread for the scope (restoring the previous one after).
class ScopedDiagnostics {
public:
  explicit ScopedDiagnostics(const DiagnosticSink *sink);
  ~ScopedDiagnostics();
  ScopedDiagnostics(const ScopedDiagnostics &) = delete;
  ScopedDiagnostics &operator=(const ScopedDiagnostics &) = delete;

private:
  const DiagnosticSink *previous_;
};

/// A message to the current sink (dropped when none, or above its level).
void log(LogSeverity s, const std::string &message);
/// Compile progress to `sink` (any thread; the sink's callback must be thread-safe, which
/// runtime/ ensures). sink null: the current one.
void progress(const std::string &stage, int done, int total, const DiagnosticSink *sink = nullptr);

} // namespace kiln
