#pragma once
/// Errors. A user error (bad model, bad flag, bad input file) is a kiln::Error with a one-line
/// message naming what and where; an internal error (a compiler bug) is KILN_ASSERT.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace kiln {

/// A user-facing error: the message is one line and names what went wrong and where.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &msg) : std::runtime_error(msg) {}
};

[[noreturn]] inline void internal_error(const char *file, int line, const char *cond,
                                        const std::string &msg) {
  std::fprintf(stderr, "kiln: internal error at %s:%d: %s (%s)\n", file, line, msg.c_str(), cond);
  std::abort();
}

} // namespace kiln

/// Checks an invariant of the compiler itself; failing it is a Kiln bug, not a user error.
#define KILN_ASSERT(cond, msg)                                                                     \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::kiln::internal_error(__FILE__, __LINE__, #cond, (msg));                                    \
  } while (0)
