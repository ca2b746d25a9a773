#pragma once
/// Errors. A user error (bad model, bad flag, bad input file) is a kiln::Error with a one-line
/// message naming what and where; an internal error (a compiler bug) is KILN_ASSERT, which
/// throws kiln::InternalError: a library never aborts its host application. The public API
/// returns it as an error value; the command line prints it and exits 2 (a user error exits 1).
#include <stdexcept>
#include <string>

namespace kiln {

/// A user-facing error: the message is one line and names what went wrong and where.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &msg) : std::runtime_error(msg) {}
};

/// A broken invariant of the compiler itself (a Kiln bug). Deliberately not a kiln::Error, so
/// that code recovering from user errors never swallows it.
class InternalError : public std::logic_error {
public:
  explicit InternalError(const std::string &msg) : std::logic_error(msg) {}
};

[[noreturn]] inline void internal_error(const char *file, int line, const char *cond,
                                        const std::string &msg) {
  throw InternalError("internal error at " + std::string(file) + ":" + std::to_string(line) + ": " +
                      msg + " (" + cond + ")");
}

} // namespace kiln

/// Checks an invariant of the compiler itself; failing it is a Kiln bug, not a user error.
#define KILN_ASSERT(cond, msg)                                                                     \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::kiln::internal_error(__FILE__, __LINE__, #cond, (msg));                                    \
  } while (0)
