#include "ir/Printer.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace kiln {

namespace {

bool is_plain_name(const std::string &s) {
  if (s.empty() || s == "_")
    return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    if (!ok)
      return false;
  }
  return true;
}

bool is_identifier(const std::string &s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok)
      return false;
  }
  return true;
}

void print_quoted(std::ostream &os, const std::string &s) {
  os << '"';
  for (unsigned char c : s) {
    switch (c) {
    case '"': os << "\\\""; break;
    case '\\': os << "\\\\"; break;
    case '\n': os << "\\n"; break;
    case '\t': os << "\\t"; break;
    case '\r': os << "\\r"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        // Other control bytes would make the text unreadable (or break the line structure).
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        os << buf;
      } else {
        os << static_cast<char>(c);
      }
    }
  }
  os << '"';
}

void print_value_name(std::ostream &os, const std::string &name) {
  os << '%';
  if (is_plain_name(name))
    os << name;
  else
    print_quoted(os, name);
}

void print_type(std::ostream &os, DType dtype, const Shape &shape) { os << type_str(dtype, shape); }

/// Shortest text that reads back to exactly `v` (std::to_chars is round-trip exact and
/// locale-independent, unlike printf). NaNs are handled by the caller.
template <class F> std::string shortest(F v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

/// A float element of a constant. NaN keeps its exact bits: `nan` / `-nan` for the canonical
/// quiet NaN of the format, `nan(0x...)` with the raw storage bits for any other payload, so
/// constants round-trip bitwise.
template <class Bits> void print_nan(std::ostream &os, Bits bits, Bits canonical) {
  constexpr int nbits = sizeof(Bits) * 8;
  Bits sign = Bits(Bits(1) << (nbits - 1));
  if (bits == canonical) {
    os << "nan";
    return;
  }
  if (bits == Bits(canonical | sign)) {
    os << "-nan";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "nan(0x%0*llx)", nbits / 4, static_cast<unsigned long long>(bits));
  os << buf;
}

void print_element(std::ostream &os, const Tensor &t, int64_t i) {
  const void *p = t.raw();
  switch (t.dtype()) {
  case DType::f32: {
    float v = static_cast<const float *>(p)[i];
    if (std::isnan(v))
      return print_nan<uint32_t>(os, std::bit_cast<uint32_t>(v), 0x7fc00000u);
    os << shortest(v);
    return;
  }
  case DType::f64: {
    double v = static_cast<const double *>(p)[i];
    if (std::isnan(v))
      return print_nan<uint64_t>(os, std::bit_cast<uint64_t>(v), 0x7ff8000000000000ull);
    os << shortest(v);
    return;
  }
  case DType::f16:
  case DType::bf16: {
    // Every half value is exactly a float, and the shortest float text reads back to it.
    uint16_t bits = static_cast<const uint16_t *>(p)[i];
    bool f16 = t.dtype() == DType::f16;
    float v = f16 ? f16_to_f32(bits) : bf16_to_f32(bits);
    if (std::isnan(v))
      return print_nan<uint16_t>(os, bits, f16 ? uint16_t(0x7e00) : uint16_t(0x7fc0));
    os << shortest(v);
    return;
  }
  case DType::i64: os << static_cast<const int64_t *>(p)[i]; return;
  case DType::i32: os << static_cast<const int32_t *>(p)[i]; return;
  case DType::i16: os << static_cast<const int16_t *>(p)[i]; return;
  case DType::i8: os << static_cast<int>(static_cast<const int8_t *>(p)[i]); return;
  case DType::u8: os << static_cast<int>(static_cast<const uint8_t *>(p)[i]); return;
  case DType::boolean: os << (static_cast<const uint8_t *>(p)[i] != 0 ? 1 : 0); return;
  }
}

/// A float attribute: it must read back as a float, so integral values get a ".0".
std::string format_float_attr(double v) {
  if (std::isnan(v))
    return std::signbit(v) ? "-nan" : "nan";
  std::string s = shortest(v);
  if (s.find_first_of(".eEin") == std::string::npos)
    s += ".0";
  return s;
}

void print_attr_value(std::ostream &os, const AttrValue &v) {
  if (auto *i = std::get_if<int64_t>(&v)) {
    os << *i;
  } else if (auto *f = std::get_if<double>(&v)) {
    os << format_float_attr(*f);
  } else if (auto *s = std::get_if<std::string>(&v)) {
    print_quoted(os, *s);
  } else if (auto *is = std::get_if<std::vector<int64_t>>(&v)) {
    os << '[';
    for (size_t k = 0; k < is->size(); ++k)
      os << (k ? "," : "") << (*is)[k];
    os << ']';
  } else if (auto *fs = std::get_if<std::vector<double>>(&v)) {
    os << '[';
    for (size_t k = 0; k < fs->size(); ++k)
      os << (k ? "," : "") << format_float_attr((*fs)[k]);
    os << ']';
    // `[]` alone reads back as an empty ints list.
    if (fs->empty())
      os << 'f';
  }
}

void print_constant(std::ostream &os, const Value &v, const PrintOptions &opt) {
  const Tensor &t = *v.constant;
  os << "  ";
  print_value_name(os, v.name);
  os << " = const ";
  print_type(os, t.dtype(), t.shape());
  os << ' ';
  if (opt.max_constant_elements >= 0 && t.numel() > opt.max_constant_elements) {
    os << "<elided " << t.numel() << " elements>\n";
    return;
  }
  os << '[';
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i)
      os << ", ";
    print_element(os, t, i);
  }
  os << "]\n";
}

void print_node(std::ostream &os, const Node &n) {
  os << "  ";
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (i)
      os << ", ";
    print_value_name(os, n.outputs[i]->name);
  }
  if (!n.outputs.empty())
    os << " = ";
  os << op_name(n.op) << '(';
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i)
      os << ", ";
    if (n.inputs[i])
      print_value_name(os, n.inputs[i]->name);
    else
      os << '_';
  }
  os << ')';
  if (!n.attrs.map().empty()) {
    os << " {";
    bool first = true;
    for (const auto &[name, value] : n.attrs.map()) {
      if (!first)
        os << ", ";
      first = false;
      if (is_identifier(name))
        os << name;
      else
        print_quoted(os, name);
      os << '=';
      print_attr_value(os, value);
    }
    os << '}';
  }
  if (!n.outputs.empty()) {
    os << " : ";
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (i)
        os << ", ";
      print_type(os, n.outputs[i]->dtype, n.outputs[i]->shape);
    }
  }
  if (!n.name.empty()) {
    os << " loc(";
    print_quoted(os, n.name);
    os << ')';
  }
  os << '\n';
}

} // namespace

void print_graph(std::ostream &os, const Graph &g, const PrintOptions &opt) {
  for (const auto &[key, value] : g.metadata()) {
    os << "meta ";
    print_quoted(os, key);
    os << " = ";
    print_quoted(os, value);
    os << '\n';
  }
  os << "graph(";
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value *v = g.inputs()[i];
    if (i)
      os << ", ";
    print_value_name(os, v->name);
    os << ": ";
    print_type(os, v->dtype, v->shape);
  }
  os << ") -> (";
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    if (i)
      os << ", ";
    print_value_name(os, g.outputs()[i]->name);
  }
  os << ") {\n";
  // Constants first (in value order) so every node's operands are defined above it.
  for (const auto &v : g.values())
    if (v->is_constant() && v->producer == nullptr)
      print_constant(os, *v, opt);
  for (const auto &n : g.nodes())
    print_node(os, *n);
  os << "}\n";
}

std::string graph_to_string(const Graph &g, const PrintOptions &opt) {
  std::ostringstream os;
  print_graph(os, g, opt);
  return os.str();
}

} // namespace kiln
