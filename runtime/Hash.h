#pragma once
/// Hashes for the .kiln cache: XXH3-128 (xxHash, libxxhash-dev) for cache keys and checksums.
/// A key names compiled code for a model, its shapes, passes, target and compiler; keys are
/// not secrets and nobody forges them (whoever can write the cache folder can write the code in
/// it), so what matters is a 128-bit hash with no accidental collisions that runs at memory
/// speed over a model file: XXH3 hashes a 12 MB model in well under a millisecond, where the
/// SHA-256 Kiln used before took 6 ms even with the CPU's SHA extensions.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace kiln {

using Digest = std::array<uint8_t, 16>;

/// Incremental XXH3-128.
class Hasher {
public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher &) = delete;
  Hasher &operator=(const Hasher &) = delete;
  void update(const void *data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Length-prefixed, so consecutive fields cannot run into each other.
  void field(std::string_view s);
  /// The digest of everything so far, big-endian (the canonical XXH128 byte order).
  Digest finish() const;

private:
  struct State;
  std::unique_ptr<State> state_;
};

/// XXH3-128 of one buffer.
Digest hash128(const void *data, size_t n);

std::string digest_hex(const Digest &d);

/// XXH3-64 of a buffer: detects damaged sections. Not a key.
uint64_t checksum64(const void *data, size_t n);

} // namespace kiln
