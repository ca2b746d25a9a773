#pragma once
/// Element types and the half-precision conversions.
#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln {

enum class DType : uint8_t { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };

/// Bytes per element.
size_t dtype_size(DType t);
/// Short name used in the text IR: f32, f16, bf16, f64, i64, i32, i16, i8, u8, bool.
std::string_view dtype_name(DType t);
/// Inverse of dtype_name; nullopt for an unknown name.
std::optional<DType> parse_dtype(std::string_view name);
bool is_float(DType t);
/// f32 or a 16-bit float (f16, bf16): what kernels compute in f32 (or f16) from storage.
inline bool is_float_storage(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16;
}
bool is_integer(DType t); ///< signed or unsigned integer (not bool)

/// IEEE binary16 <-> binary32, round to nearest even.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
/// bfloat16 <-> binary32, round to nearest even.
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

/// Storage types for the half formats, so templates can tell them from uint16_t.
struct half {
  uint16_t bits;
};
struct bfloat {
  uint16_t bits;
};

/// Calls f(T{}) with the C++ storage type of `t` (float, half, bfloat, double, int64_t, ...,
/// bool).
template <class F> decltype(auto) dispatch_dtype(DType t, F &&f) {
  switch (t) {
  case DType::f32: return f(float{});
  case DType::f16: return f(half{});
  case DType::bf16: return f(bfloat{});
  case DType::f64: return f(double{});
  case DType::i64: return f(int64_t{});
  case DType::i32: return f(int32_t{});
  case DType::i16: return f(int16_t{});
  case DType::i8: return f(int8_t{});
  case DType::u8: return f(uint8_t{});
  case DType::boolean: return f(bool{});
  }
  __builtin_unreachable();
}

/// The DType of a storage type.
template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<half>() { return DType::f16; }
template <> constexpr DType dtype_of<bfloat>() { return DType::bf16; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int16_t>() { return DType::i16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

/// Value of one stored element as double / from double (half formats round to nearest even,
/// integers truncate toward zero like a C cast, bool is != 0).
template <class T> inline double to_f64(T v) { return static_cast<double>(v); }
template <> inline double to_f64(half v) { return f16_to_f32(v.bits); }
template <> inline double to_f64(bfloat v) { return bf16_to_f32(v.bits); }
template <class T> inline T from_f64(double v) { return static_cast<T>(v); }
template <> inline half from_f64(double v) { return half{f32_to_f16(static_cast<float>(v))}; }
template <> inline bfloat from_f64(double v) { return bfloat{f32_to_bf16(static_cast<float>(v))}; }
template <> inline bool from_f64(double v) { return v != 0.0; }

} // namespace kiln
