#include "runtime/Hash.h"

#define XXH_INLINE_ALL // header-only: the hash inlines into its callers, no library to link
#include <xxhash.h>

namespace kiln {

struct Hasher::State {
  XXH3_state_t s;
};

Hasher::Hasher() : state_(std::make_unique<State>()) { XXH3_128bits_reset(&state_->s); }
Hasher::~Hasher() = default;

void Hasher::update(const void *data, size_t n) { XXH3_128bits_update(&state_->s, data, n); }

void Hasher::field(std::string_view s) {
  uint64_t n = s.size();
  update(&n, sizeof n);
  update(s);
}

namespace {
Digest to_digest(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Digest d;
  static_assert(sizeof c.digest == sizeof d);
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = c.digest[i];
  return d;
}
} // namespace

Digest Hasher::finish() const { return to_digest(XXH3_128bits_digest(&state_->s)); }

Digest hash128(const void *data, size_t n) { return to_digest(XXH3_128bits(data, n)); }

std::string digest_hex(const Digest &d) {
  static const char *hex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

uint64_t checksum64(const void *data, size_t n) { return XXH3_64bits(data, n); }

} // namespace kiln
