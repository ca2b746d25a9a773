#pragma once
/// What the command line prints on stderr besides its results: progress while it works, and
/// messages made one line (errors are `kiln: error: ...`, one line each); and the column
/// widths its text tables (sweep, tune) share.
///
///   Progress p(images.size(), "images", "img");
///   for (size_t i = 0; i < images.size(); ++i) { ...; p.bar(i + 1); }
///   p.finish();
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace kiln {

/// Progress on stderr. On a terminal it is one line redrawn in place; elsewhere (a log, a pipe)
/// only the status lines asked for with `log` appear, one per line, and bars not at all.
class Progress {
public:
  /// `total` steps; a bar names them `unit` and their rate `rate_unit` ("images", "img").
  explicit Progress(size_t total, std::string unit = "", std::string rate_unit = "");
  /// A bar after `done` steps: [#####-----] 5/8 images 3.2 img/s. Terminal only, and only
  /// when there is more than one step.
  void bar(size_t done);
  /// A status line for step i (from 0): "[i+1/total] text". Redrawn in place on a terminal;
  /// elsewhere printed as its own line when `log` is set, else not at all.
  void status(size_t i, const std::string &text, bool log = false);
  /// Erases the line so other output can use it (the next bar or status redraws it).
  void clear();
  /// Ends the progress: a bar keeps its last state on its own line, a status line is erased.
  void finish();

private:
  size_t total_;
  std::string unit_, rate_unit_;
  bool tty_;
  bool drawn_ = false;  ///< something is on the current terminal line
  bool is_bar_ = false; ///< ... and it is a bar
  std::chrono::steady_clock::time_point start_;
};

/// `s` with every newline made a space, for one-line messages.
std::string one_line(std::string s);

/// The widths of a text table's columns: the widest of the header and every row's cell.
std::vector<size_t> column_widths(const std::vector<std::string> &head,
                                  const std::vector<std::vector<std::string>> &rows);

} // namespace kiln
