#pragma once
/// The .kiln cache file: one compiled schedule (manifest, kernel object code, weights).
///
///   offset 0    header (192 bytes, little-endian):
///                 magic "\x89KILN\r\n\x1a", u32 format version, u32 section count,
///                 u64 file size, 16-byte key (XXH3-128), 16 bytes zero, u64 header checksum
///                 (XXH3-64 over the header with this field zero), u64 body checksum (every
///                 byte after the header), 3 x {char name[16], u64 offset, u64 size, u64
///                 checksum}
///   offset 256  section "manifest": JSON (kernels, buffers, launches, target, compiler)
///               section "object":   relocatable object code, one symbol per kernel
///               section "weights":  the weights block, 64-byte aligned, used in place (mmap)
///
/// Every section starts 64-byte aligned. Loading checks size, magic, version, key and the
/// checksums (one pass over the body; the section checksums only name the damaged section of a
/// file that failed it) before anything is trusted; the caller checks the manifest's target and
/// compiler. Version 1 files (SHA-256 keys) are "stale": the session compiles afresh.
#include "runtime/Hash.h"

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

constexpr uint32_t kCacheFormatVersion = 2;

/// Why a cache file cannot be used. kind: "corrupt" (damaged), "stale" (another format or
/// compiler or key), "foreign" (not a .kiln file, or built for another target).
class CacheFileError : public std::runtime_error {
public:
  CacheFileError(std::string kind, std::string detail)
      : std::runtime_error(kind + " (" + detail + ")"), kind(std::move(kind)),
        detail(std::move(detail)) {}
  std::string kind, detail;
};

/// The cache folder sessions use when SessionOptions::cache_dir is empty: $KILN_CACHE_DIR, else
/// ~/.cache/kiln; "" when neither is set.
std::string default_cache_dir();

/// The bytes start with the .kiln magic (n: how many there are).
bool has_kiln_magic(const void *data, size_t n);
/// The file at `path` starts with the .kiln magic (false when it cannot be read).
bool is_kiln_file(const std::string &path);

/// Writes a cache file atomically (temporary file in the same folder, fsync, rename). Throws
/// kiln::Error naming the path when it cannot.
void write_cache_file(const std::string &path, const Digest &key, std::string_view manifest,
                      std::span<const uint8_t> object, std::span<const uint8_t> weights);

/// A validated, memory-mapped cache file. The weights section is used in place.
class CacheFile {
public:
  /// Maps and validates `path`; `expected_key` null accepts any key (a .kiln file given by
  /// name). Throws CacheFileError for a damaged or mismatched file, kiln::Error when the file
  /// cannot be read at all.
  static std::unique_ptr<CacheFile> open(const std::string &path, const Digest *expected_key);
  ~CacheFile();
  CacheFile(const CacheFile &) = delete;
  CacheFile &operator=(const CacheFile &) = delete;

  const Digest &key() const { return key_; }
  std::string_view manifest() const { return manifest_; }
  std::span<const uint8_t> object() const { return object_; }
  /// Writable copy-on-write mapping: kernels only read it, but a stray write must not fault.
  uint8_t *weights() const { return weights_; }
  size_t weights_size() const { return weights_size_; }

private:
  CacheFile() = default;
  void *map_ = nullptr;
  size_t map_size_ = 0;
  Digest key_{};
  std::string_view manifest_;
  std::span<const uint8_t> object_;
  uint8_t *weights_ = nullptr;
  size_t weights_size_ = 0;
};

} // namespace kiln
