#include "runtime/CacheFile.h"

#include "ir/AtomicFile.h"
#include "ir/Error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln {

namespace {

constexpr char kMagic[8] = {'\x89', 'K', 'I', 'L', 'N', '\r', '\n', '\x1a'};
constexpr const char *kSectionNames[3] = {"manifest", "object", "weights"};
constexpr size_t kHeaderSize = 192;
constexpr size_t kBodyStart = 256;
constexpr size_t kAlign = 64;

struct SectionEntry {
  char name[16];
  uint64_t offset, size, checksum;
};

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t section_count;
  uint64_t file_size;
  uint8_t key[16];
  uint8_t reserved[16];
  uint64_t header_checksum;
  uint64_t body_checksum;
  SectionEntry sections[3];
};
static_assert(sizeof(Header) == kHeaderSize, "the header layout is part of the file format");

uint64_t header_checksum(Header h) {
  h.header_checksum = 0;
  return checksum64(&h, sizeof h);
}

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string errno_str() { return std::strerror(errno); }

// Writes all of `data` at `offset`; false on error.
bool pwrite_all(int fd, const void *data, size_t n, size_t offset) {
  const char *p = static_cast<const char *>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<size_t>(w);
  }
  return true;
}

} // namespace

bool has_kiln_magic(const void *data, size_t n) {
  return n >= sizeof kMagic && std::memcmp(data, kMagic, sizeof kMagic) == 0;
}

bool is_kiln_file(const std::string &path) {
  char magic[sizeof kMagic] = {};
  std::ifstream f(path, std::ios::binary);
  f.read(magic, sizeof magic);
  return f && has_kiln_magic(magic, sizeof magic);
}

void write_cache_file(const std::string &path, const Digest &key, std::string_view manifest,
                      std::span<const uint8_t> object, std::span<const uint8_t> weights) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kCacheFormatVersion;
  h.section_count = 3;
  std::memcpy(h.key, key.data(), key.size());
  const void *data[3] = {manifest.data(), object.data(), weights.data()};
  size_t sizes[3] = {manifest.size(), object.size(), weights.size()};
  size_t offset = kBodyStart;
  for (int i = 0; i < 3; ++i) {
    std::strncpy(h.sections[i].name, kSectionNames[i], sizeof h.sections[i].name);
    h.sections[i].offset = offset;
    h.sections[i].size = sizes[i];
    h.sections[i].checksum = checksum64(data[i], sizes[i]);
    offset = align_up(offset + sizes[i]);
  }
  h.file_size = offset;
  // The body (sections and the zero padding between them) in one buffer, for its checksum.
  std::vector<uint8_t> body(h.file_size - kBodyStart, 0);
  for (int i = 0; i < 3; ++i)
    if (sizes[i] > 0)
      std::memcpy(body.data() + (h.sections[i].offset - kBodyStart), data[i], sizes[i]);
  h.body_checksum = checksum64(body.data(), body.size());
  h.header_checksum = header_checksum(h);

  // A unique temporary in the same folder, fsynced, renamed: concurrent writers (two
  // processes compiling the same model) never see each other's half-written file.
  uint8_t head[kBodyStart] = {};
  std::memcpy(head, &h, sizeof h);
  try {
    write_file_atomically_fd(path, [&](int fd) {
      return pwrite_all(fd, head, sizeof head, 0) &&
             pwrite_all(fd, body.data(), body.size(), kBodyStart);
    });
  } catch (const Error &e) {
    throw Error(std::string("cannot write cache file ") + e.what());
  }
}

std::unique_ptr<CacheFile> CacheFile::open(const std::string &path, const Digest *expected_key) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot open " + path + ": " + errno_str());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error("cannot read " + path + ": " + errno_str());
  }
  size_t size = static_cast<size_t>(st.st_size);
  char magic[sizeof kMagic] = {};
  if (size < sizeof kMagic || ::pread(fd, magic, sizeof magic, 0) != sizeof magic ||
      std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    ::close(fd);
    throw CacheFileError("foreign", "not a .kiln file: bad magic");
  }
  if (size < kBodyStart) {
    ::close(fd);
    throw CacheFileError("corrupt", "truncated: " + std::to_string(size) + " bytes");
  }
  void *map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    throw Error("cannot map " + path + ": " + errno_str());
  std::unique_ptr<CacheFile> f(new CacheFile);
  f->map_ = map;
  f->map_size_ = size;

  const uint8_t *base = static_cast<const uint8_t *>(map);
  Header h;
  std::memcpy(&h, base, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    throw CacheFileError("foreign", "not a .kiln file: bad magic");
  if (h.version != kCacheFormatVersion)
    throw CacheFileError("stale", "format version " + std::to_string(h.version) +
                                      ", this kiln reads version " +
                                      std::to_string(kCacheFormatVersion));
  if (h.file_size != size)
    throw CacheFileError("corrupt", std::string(size < h.file_size ? "truncated: " : "size: ") +
                                        std::to_string(size) + " bytes, header says " +
                                        std::to_string(h.file_size));
  if (header_checksum(h) != h.header_checksum)
    throw CacheFileError("corrupt", "checksum mismatch in the header");
  if (h.section_count != 3)
    throw CacheFileError("corrupt", "section count " + std::to_string(h.section_count));
  std::span<const uint8_t> sections[3];
  for (int i = 0; i < 3; ++i) {
    const SectionEntry &s = h.sections[i];
    if (std::strncmp(s.name, kSectionNames[i], sizeof s.name) != 0 || s.offset % kAlign != 0 ||
        s.offset < kBodyStart || s.offset > size || s.size > size - s.offset)
      throw CacheFileError("corrupt",
                           "bad entry for section '" + std::string(kSectionNames[i]) + "'");
    sections[i] = {base + s.offset, s.size};
  }
  // One pass over the body checks every byte; only a damaged file pays for the section
  // checksums, to name what is damaged.
  if (checksum64(base + kBodyStart, size - kBodyStart) != h.body_checksum) {
    for (int i = 0; i < 3; ++i)
      if (checksum64(sections[i].data(), sections[i].size()) != h.sections[i].checksum)
        throw CacheFileError("corrupt", "checksum mismatch in section '" +
                                            std::string(kSectionNames[i]) + "'");
    throw CacheFileError("corrupt", "checksum mismatch in the padding between sections");
  }
  std::memcpy(f->key_.data(), h.key, sizeof h.key);
  if (expected_key && *expected_key != f->key_)
    throw CacheFileError("stale", "key " + digest_hex(f->key_).substr(0, 16) +
                                      "... is not this model's " +
                                      digest_hex(*expected_key).substr(0, 16) + "...");
  f->manifest_ = {reinterpret_cast<const char *>(sections[0].data()), sections[0].size()};
  f->object_ = sections[1];
  f->weights_ = static_cast<uint8_t *>(map) + h.sections[2].offset;
  f->weights_size_ = h.sections[2].size;
  return f;
}

CacheFile::~CacheFile() {
  if (map_)
    ::munmap(map_, map_size_);
}

std::string default_cache_dir() {
  if (const char *d = std::getenv("KILN_CACHE_DIR"); d && *d)
    return d;
  if (const char *h = std::getenv("HOME"); h && *h)
    return (std::filesystem::path(h) / ".cache" / "kiln").string();
  return "";
}

} // namespace kiln
