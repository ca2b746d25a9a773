#pragma once
/// Hashes for the .kiln cache: SHA-256 for cache keys (collisions would load the wrong code, so
/// a cryptographic hash), a fast 64-bit checksum for detecting corrupt sections.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

using Digest = std::array<uint8_t, 32>;

/// Incremental SHA-256 (FIPS 180-4).
class Sha256 {
public:
  Sha256();
  void update(const void *data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Length-prefixed, so consecutive fields cannot run into each other.
  void field(std::string_view s);
  Digest finish();
  /// Use the CPU's SHA extensions when it has them (tests turn this off to compare).
  static bool use_sha_ni;

private:
  void blocks(const uint8_t *p, size_t n);
  void block(const uint8_t *p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string digest_hex(const Digest &d);

/// FNV-1a style checksum over 8-byte words (each step is a bijection of the state, so any
/// change confined to one word always changes the result). Not a key: only detects damage.
uint64_t checksum64(const void *data, size_t n, uint64_t seed = 0xcbf29ce484222325ull);

} // namespace kiln
