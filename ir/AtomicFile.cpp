#include "ir/AtomicFile.h"

#include "ir/Error.h"

#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace kiln {

void write_file_atomically(const std::string &path,
                           const std::function<bool(const std::string &tmp)> &write) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  if (!write(tmp)) {
    std::remove(tmp.c_str());
    throw Error(path + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
}

void write_text_file(const std::string &path, std::string_view text) {
  write_file_atomically(path, [&](const std::string &tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    return static_cast<bool>(f);
  });
}

} // namespace kiln
