#include "ir/DType.h"

#include <bit>
#include <cstring>

namespace kiln {

size_t dtype_size(DType t) {
  switch (t) {
  case DType::f32: return 4;
  case DType::f16: return 2;
  case DType::bf16: return 2;
  case DType::f64: return 8;
  case DType::i64: return 8;
  case DType::i32: return 4;
  case DType::i16: return 2;
  case DType::i8: return 1;
  case DType::u8: return 1;
  case DType::boolean: return 1;
  }
  __builtin_unreachable();
}

std::string_view dtype_name(DType t) {
  switch (t) {
  case DType::f32: return "f32";
  case DType::f16: return "f16";
  case DType::bf16: return "bf16";
  case DType::f64: return "f64";
  case DType::i64: return "i64";
  case DType::i32: return "i32";
  case DType::i16: return "i16";
  case DType::i8: return "i8";
  case DType::u8: return "u8";
  case DType::boolean: return "bool";
  }
  __builtin_unreachable();
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i64, DType::i32,
                  DType::i16, DType::i8, DType::u8, DType::boolean})
    if (dtype_name(t) == name)
      return t;
  return std::nullopt;
}

bool is_float(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::f64;
}

bool is_integer(DType t) {
  return t == DType::i64 || t == DType::i32 || t == DType::i16 || t == DType::i8 || t == DType::u8;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (man << 13); // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { // subnormal: renormalise
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while ((man & 0x400) == 0);
    bits = sign | uint32_t(112 - e) << 23 | ((man & 0x3ff) << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t f32_to_f16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000) // inf or nan
    return sign | 0x7c00 | (ax > 0x7f800000 ? 0x200 : 0);
  if (ax >= 0x477ff000) // rounds to >= 65520: overflow to inf
    return sign | 0x7c00;
  if (ax < 0x38800000) { // below the smallest normal half: subnormal or zero
    // Add 0.5 (as float) so the FPU rounds the mantissa to nearest even for us.
    float r = std::bit_cast<float>(ax) + 0.5f;
    return sign | uint16_t(std::bit_cast<uint32_t>(r) - 0x3f000000);
  }
  uint32_t odd = (ax >> 13) & 1;
  ax += 0xc8000fff + odd; // rebias exponent (-112 << 23) and round to nearest even
  return sign | uint16_t(ax >> 13);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

uint16_t f32_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffff) > 0x7f800000)
    return uint16_t((x >> 16) | 0x40); // quiet nan
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

} // namespace kiln
