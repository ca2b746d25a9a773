#pragma once
/// Output files appear whole or not at all: written under a unique temporary name next to the
/// target (mkstemp in the same folder, so the rename is atomic and no two writers, threads of
/// one process included, ever share a temporary), then renamed into place. The one atomic file
/// writer of the code base.
#include <functional>
#include <string>
#include <string_view>

namespace kiln {

/// `write(tmp)` fills the temporary file (it exists, empty; open it by name) and returns false
/// on failure. On any failure the temporary is removed and kiln::Error "PATH: what" thrown;
/// `path` is left untouched.
void write_file_atomically(const std::string &path,
                           const std::function<bool(const std::string &tmp)> &write);

/// Like write_file_atomically, with the temporary open as `fd` for writing, and durable: the
/// file is fsynced before the rename and the folder after it (for cache files that other
/// processes map).
void write_file_atomically_fd(const std::string &path, const std::function<bool(int fd)> &write);

/// write_file_atomically with `text` as the whole content.
void write_text_file(const std::string &path, std::string_view text);

/// The file in one read into a string of its size (no stream buffer copies); false when it
/// cannot be read.
bool read_whole_file(const std::string &path, std::string &out);

} // namespace kiln
