#include "ir/AtomicFile.h"

#include "ir/Error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln {

namespace {

// Creates the temporary (mode 0644, like a plain open would give), lets `fill` write it, then
// renames it over `path`; `durable` adds the fsyncs. Throws Error "PATH: what".
void write_via_temporary(const std::string &path, bool durable,
                         const std::function<bool(int fd, const std::string &tmp)> &fill) {
  std::string tmp = path + ".tmpXXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    throw Error(path + ": cannot create a temporary file: " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0644) == 0 && fill(fd, tmp) && (!durable || ::fsync(fd) == 0);
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(path + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
  if (!durable)
    return;
  // Make the rename itself durable; failing to is harmless (the file is complete either way).
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

} // namespace

void write_file_atomically(const std::string &path,
                           const std::function<bool(const std::string &tmp)> &write) {
  write_via_temporary(path, false, [&](int, const std::string &tmp) { return write(tmp); });
}

void write_file_atomically_fd(const std::string &path, const std::function<bool(int fd)> &write) {
  write_via_temporary(path, true, [&](int fd, const std::string &) { return write(fd); });
}

void write_text_file(const std::string &path, std::string_view text) {
  write_file_atomically(path, [&](const std::string &tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    return static_cast<bool>(f);
  });
}

bool read_whole_file(const std::string &path, std::string &out) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return false;
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  bool ok = !ec;
  if (ok) {
    out.resize(n);
    ok = std::fread(out.data(), 1, n, f) == n;
  }
  std::fclose(f);
  return ok;
}

} // namespace kiln
