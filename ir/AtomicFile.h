#pragma once
/// Output files appear whole or not at all: written under a temporary name next to the target
/// (same folder, so the rename is atomic), then renamed into place.
#include <functional>
#include <string>
#include <string_view>

namespace kiln {

/// `write(tmp)` fills the temporary file and returns false on failure. On any failure the
/// temporary is removed and kiln::Error "PATH: what" thrown; `path` is left untouched.
void write_file_atomically(const std::string &path,
                           const std::function<bool(const std::string &tmp)> &write);

/// write_file_atomically with `text` as the whole content.
void write_text_file(const std::string &path, std::string_view text);

} // namespace kiln
