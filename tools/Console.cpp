// Progress and one-line messages on stderr, text-table widths (see Console.h).
#include "tools/Console.h"

#include "tools/Timing.h"

#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <unistd.h>

namespace kiln {

Progress::Progress(size_t total, std::string unit, std::string rate_unit)
    : total_(total), unit_(std::move(unit)), rate_unit_(std::move(rate_unit)),
      tty_(isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

void Progress::bar(size_t done) {
  if (!tty_ || total_ < 2)
    return;
  constexpr size_t kWidth = 30;
  size_t filled = total_ ? done * kWidth / total_ : kWidth;
  double s = ms_between(start_, std::chrono::steady_clock::now()) / 1e3;
  fmt::print(stderr, "\r[{}{}] {}/{} {} {:.1f} {}/s", std::string(filled, '#'),
             std::string(kWidth - filled, '-'), done, total_, unit_, s > 0 ? done / s : 0.0,
             rate_unit_);
  std::fflush(stderr);
  drawn_ = is_bar_ = true;
}

void Progress::status(size_t i, const std::string &text, bool log) {
  std::string line = fmt::format("[{}/{}] {}", i + 1, total_, text);
  if (tty_) {
    fmt::print(stderr, "\r{:<100.100}", line);
    drawn_ = true;
    is_bar_ = false;
  } else if (log) {
    fmt::print(stderr, "{}\n", line);
  }
  std::fflush(stderr);
}

void Progress::clear() {
  if (!drawn_)
    return;
  fmt::print(stderr, "\r\033[K");
  drawn_ = false;
}

void Progress::finish() {
  if (!drawn_)
    return;
  if (is_bar_)
    fmt::print(stderr, "\n");
  else
    fmt::print(stderr, "\r\033[K");
  drawn_ = false;
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::vector<size_t> column_widths(const std::vector<std::string> &head,
                                  const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> w(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    w[c] = head[c].size();
    for (const auto &row : rows)
      w[c] = std::max(w[c], row[c].size());
  }
  return w;
}

} // namespace kiln
