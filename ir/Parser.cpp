#include "ir/Parser.h"

#include "ir/Verifier.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace kiln {

namespace {

enum class Tok {
  End,
  Ident,  // [A-Za-z_][A-Za-z0-9_]* (dtype names, ops, keywords, attribute names)
  Number, // integers, floats, inf, -inf, nan, -nan, nan(0x...)
  String, // "..." (text holds the unescaped contents)
  Value,  // %name or %"..." (text holds the name)
  Punct,  // ( ) [ ] { } , : = < > ->
};

struct Token {
  Tok kind = Tok::End;
  std::string text; ///< unescaped contents for String / Value
  std::string raw;  ///< as written, for messages
  int line = 1, col = 1;
};

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
bool is_name_char(char c) { return is_ident_char(c) || c == '.'; }

class Lexer {
public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    skip_space();
    Token t;
    t.line = line_;
    t.col = col_;
    size_t start = pos_;
    if (pos_ >= text_.size()) {
      t.kind = Tok::End;
      t.raw = "end of input";
      return t;
    }
    char c = text_[pos_];
    if (c == '%') {
      advance();
      t.kind = Tok::Value;
      if (peek() == '"') {
        t.text = lex_string(t);
      } else {
        while (pos_ < text_.size() && is_name_char(peek()))
          advance();
        t.text = std::string(text_.substr(start + 1, pos_ - start - 1));
        if (t.text.empty())
          fail(t, "expected a value name after '%'");
      }
    } else if (c == '"') {
      t.kind = Tok::String;
      t.text = lex_string(t);
    } else if (c == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '>') {
      advance();
      advance();
      t.kind = Tok::Punct;
    } else if (is_digit(c) || c == '-' || c == '+' || c == '.') {
      lex_number(t);
    } else if (is_ident_start(c)) {
      while (pos_ < text_.size() && is_ident_char(peek()))
        advance();
      std::string_view word = text_.substr(start, pos_ - start);
      t.kind = Tok::Ident;
      if (word == "inf" || word == "nan") {
        t.kind = Tok::Number;
        if (word == "nan")
          lex_nan_payload();
      }
    } else if (std::string_view("()[]{},:=<>").find(c) != std::string_view::npos) {
      advance();
      t.kind = Tok::Punct;
    } else {
      t.raw = std::string(1, c);
      fail(t, "unexpected character '" + t.raw + "'");
    }
    t.raw = std::string(text_.substr(start, pos_ - start));
    if (t.kind == Tok::Ident || t.kind == Tok::Number || t.kind == Tok::Punct)
      t.text = t.raw;
    return t;
  }

  [[noreturn]] static void fail(const Token &t, const std::string &msg) {
    throw Error("line " + std::to_string(t.line) + ":" + std::to_string(t.col) + ": " + msg);
  }

private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  void skip_space() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        // `//` comments, for hand-written test inputs.
        while (pos_ < text_.size() && text_[pos_] != '\n')
          advance();
      } else {
        break;
      }
    }
  }

  // A sign, then digits / '.' / exponent, or inf / nan spelled out.
  void lex_number(Token &t) {
    t.kind = Tok::Number;
    if (peek() == '-' || peek() == '+')
      advance();
    if (is_ident_start(peek())) {
      size_t s = pos_;
      while (pos_ < text_.size() && is_ident_char(peek()))
        advance();
      std::string_view word = text_.substr(s, pos_ - s);
      if (word == "nan")
        lex_nan_payload();
      else if (word != "inf")
        fail(t, "malformed number '" + std::string(text_.substr(s - 1, pos_ - s + 1)) + "'");
      return;
    }
    while (pos_ < text_.size()) {
      char c = peek();
      if (is_digit(c) || c == '.') {
        advance();
      } else if (c == 'e' || c == 'E') {
        advance();
        if (peek() == '+' || peek() == '-')
          advance();
      } else {
        break;
      }
    }
    // Swallow trailing letters so `1x` is reported as one malformed number.
    while (pos_ < text_.size() && is_ident_char(peek()))
      advance();
  }

  // `nan(0x7fc00001)`: a NaN with explicit storage bits.
  void lex_nan_payload() {
    if (peek() != '(')
      return;
    advance();
    while (pos_ < text_.size() && peek() != ')' && peek() != '\n')
      advance();
    if (peek() == ')')
      advance();
  }

  std::string lex_string(Token &t) {
    advance(); // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size() || peek() == '\n')
        fail(t, "unterminated string");
      char c = peek();
      advance();
      if (c == '"')
        return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size())
        fail(t, "unterminated string");
      char e = peek();
      advance();
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'x': {
        int v = 0;
        for (int k = 0; k < 2; ++k) {
          char h = peek();
          int d = is_digit(h)              ? h - '0'
                  : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                  : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                           : -1;
          if (d < 0)
            fail(t, "malformed \\x escape in string");
          advance();
          v = v * 16 + d;
        }
        out += static_cast<char>(v);
        break;
      }
      default: fail(t, std::string("unknown escape '\\") + e + "' in string");
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

std::string quote_for_message(const std::string &s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r + "\"";
}

/// A value name as it would be written in the text (for messages).
std::string spell_value(const std::string &name) {
  bool plain = !name.empty() && name != "_";
  for (char c : name)
    plain = plain && is_name_char(c);
  return "%" + (plain ? name : quote_for_message(name));
}

class Parser {
public:
  explicit Parser(std::string_view text) : lex_(text) { tok_ = lex_.next(); }

  std::unique_ptr<Graph> parse() {
    g_ = std::make_unique<Graph>();
    while (is_ident("meta")) {
      take();
      std::string key = expect_string();
      expect("=");
      std::string value = expect_string();
      g_->metadata().emplace_back(std::move(key), std::move(value));
    }
    expect_ident("graph");
    expect("(");
    if (!is_punct(")")) {
      do {
        Token name = expect_value();
        expect(":");
        auto [dtype, shape] = parse_type();
        check_new_name(name);
        Value *v = g_->add_input(name.text, dtype, shape);
        KILN_ASSERT(v->name == name.text, "parser: input name changed");
      } while (accept(","));
    }
    expect(")");
    expect("->");
    expect("(");
    // Outputs are usually defined in the body below, so resolve them at the end.
    std::vector<Token> outputs;
    if (!is_punct(")")) {
      do
        outputs.push_back(expect_value());
      while (accept(","));
    }
    expect(")");
    expect("{");
    while (!is_punct("}")) {
      if (tok_.kind == Tok::End)
        expected("'}'");
      parse_statement();
    }
    expect("}");
    if (tok_.kind != Tok::End)
      fail("expected end of input but found '" + tok_.raw + "'");
    for (const Token &o : outputs)
      g_->outputs().push_back(lookup(o));
    verify(*g_);
    return std::move(g_);
  }

private:
  [[noreturn]] void fail(const std::string &msg) const { Lexer::fail(tok_, msg); }

  Token take() {
    Token t = std::move(tok_);
    tok_ = lex_.next();
    return t;
  }
  bool is_punct(std::string_view p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  bool is_ident(std::string_view w) const { return tok_.kind == Tok::Ident && tok_.text == w; }
  bool accept(std::string_view p) {
    if (!is_punct(p))
      return false;
    take();
    return true;
  }
  [[noreturn]] void expected(const std::string &what) const {
    fail("expected " + what + " but found '" + tok_.raw + "'");
  }
  void expect(std::string_view p) {
    if (!accept(p))
      expected("'" + std::string(p) + "'");
  }
  void expect_ident(std::string_view w) {
    if (!is_ident(w))
      expected("'" + std::string(w) + "'");
    take();
  }
  std::string expect_string() {
    if (tok_.kind != Tok::String)
      expected("a string");
    return take().text;
  }
  Token expect_value() {
    if (tok_.kind != Tok::Value)
      expected("a value name");
    return take();
  }

  int64_t parse_int(const Token &t, const std::string &what) {
    int64_t v = 0;
    std::string_view s = t.raw;
    if (!s.empty() && s[0] == '+')
      s.remove_prefix(1);
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (t.kind != Tok::Number || r.ec != std::errc() || r.ptr != s.data() + s.size())
      Lexer::fail(t, "expected " + what + " but found '" + t.raw + "'");
    return v;
  }

  std::pair<DType, Shape> parse_type() {
    if (tok_.kind != Tok::Ident)
      expected("a dtype");
    std::optional<DType> dtype = parse_dtype(tok_.text);
    if (!dtype)
      fail("unknown dtype '" + tok_.text + "'");
    take();
    expect("[");
    Shape shape;
    if (!is_punct("]")) {
      do {
        Token t = take();
        int64_t d = parse_int(t, "a dimension");
        if (d < 0)
          Lexer::fail(t, "negative dimension " + t.raw);
        shape.push_back(d);
      } while (accept(","));
    }
    expect("]");
    return {*dtype, shape};
  }

  Value *lookup(const Token &name) const {
    Value *v = g_->find(name.text);
    if (!v)
      Lexer::fail(name, "undefined value " + spell_value(name.text));
    return v;
  }

  void check_new_name(const Token &name) const {
    if (g_->find(name.text))
      Lexer::fail(name, "value " + spell_value(name.text) + " is defined twice");
  }

  void parse_statement() {
    std::vector<Token> results;
    if (tok_.kind == Tok::Value) {
      do
        results.push_back(expect_value());
      while (accept(","));
      expect("=");
    }
    if (is_ident("const")) {
      if (results.size() != 1)
        fail("a constant defines exactly one value");
      take();
      parse_constant(results[0]);
      return;
    }
    parse_node(results);
  }

  // Parses one element of a constant into slot i of t.
  void parse_element(Tensor &t, int64_t i) {
    Token e = take();
    if (e.kind != Tok::Number)
      Lexer::fail(e, "expected a number but found '" + e.raw + "'");
    DType dt = t.dtype();
    if (is_float(dt)) {
      double v = 0;
      std::optional<uint64_t> nan_bits;
      if (!parse_float_token(e, dt, v, nan_bits))
        Lexer::fail(e, "malformed " + std::string(dtype_name(dt)) + " number '" + e.raw + "'");
      void *p = t.raw();
      switch (dt) {
      case DType::f32:
        static_cast<uint32_t *>(p)[i] =
            nan_bits ? uint32_t(*nan_bits) : std::bit_cast<uint32_t>(static_cast<float>(v));
        break;
      case DType::f64:
        static_cast<uint64_t *>(p)[i] = nan_bits ? *nan_bits : std::bit_cast<uint64_t>(v);
        break;
      case DType::f16:
        static_cast<uint16_t *>(p)[i] =
            nan_bits ? uint16_t(*nan_bits) : f32_to_f16(static_cast<float>(v));
        break;
      case DType::bf16:
        static_cast<uint16_t *>(p)[i] =
            nan_bits ? uint16_t(*nan_bits) : f32_to_bf16(static_cast<float>(v));
        break;
      default: break;
      }
      return;
    }
    int64_t v = parse_int(e, "an integer");
    auto check = [&](int64_t lo, int64_t hi) {
      if (v < lo || v > hi)
        Lexer::fail(e, e.raw + " is out of range for " + std::string(dtype_name(dt)));
    };
    void *p = t.raw();
    switch (dt) {
    case DType::i64: static_cast<int64_t *>(p)[i] = v; break;
    case DType::i32:
      check(INT32_MIN, INT32_MAX);
      static_cast<int32_t *>(p)[i] = int32_t(v);
      break;
    case DType::i16:
      check(INT16_MIN, INT16_MAX);
      static_cast<int16_t *>(p)[i] = int16_t(v);
      break;
    case DType::i8:
      check(INT8_MIN, INT8_MAX);
      static_cast<int8_t *>(p)[i] = int8_t(v);
      break;
    case DType::u8:
      check(0, UINT8_MAX);
      static_cast<uint8_t *>(p)[i] = uint8_t(v);
      break;
    case DType::boolean:
      check(0, 1);
      static_cast<bool *>(p)[i] = v != 0;
      break;
    default: break;
    }
  }

  /// Reads a float token. For f32 the digits are converted straight to float (a double
  /// detour could round twice); NaNs come back as exact storage bits of `dt`.
  static bool parse_float_token(const Token &e, DType dt, double &v,
                                std::optional<uint64_t> &nan_bits) {
    std::string_view s = e.raw;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
      neg = s[0] == '-';
      s.remove_prefix(1);
    }
    if (s == "inf") {
      v = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      return true;
    }
    if (s.substr(0, 3) == "nan") {
      uint64_t bits = 0;
      if (s.size() == 3) {
        uint64_t sign = 0;
        switch (dt) {
        case DType::f32: bits = 0x7fc00000u, sign = 0x80000000u; break;
        case DType::f64: bits = 0x7ff8000000000000ull, sign = 0x8000000000000000ull; break;
        case DType::f16: bits = 0x7e00, sign = 0x8000; break;
        case DType::bf16: bits = 0x7fc0, sign = 0x8000; break;
        default: return false;
        }
        nan_bits = neg ? bits | sign : bits;
        return true;
      }
      // nan(0x...): the exact bits, which must be a NaN of this format.
      if (neg || s.size() < 8 || s.substr(3, 3) != "(0x" || s.back() != ')')
        return false;
      std::string_view hex = s.substr(6, s.size() - 7);
      auto r = std::from_chars(hex.data(), hex.data() + hex.size(), bits, 16);
      if (r.ec != std::errc() || r.ptr != hex.data() + hex.size())
        return false;
      bool is_nan = false;
      switch (dt) {
      case DType::f32:
        is_nan = bits <= 0xffffffffu && std::isnan(std::bit_cast<float>(uint32_t(bits)));
        break;
      case DType::f64: is_nan = std::isnan(std::bit_cast<double>(bits)); break;
      case DType::f16: is_nan = bits <= 0xffff && std::isnan(f16_to_f32(uint16_t(bits))); break;
      case DType::bf16: is_nan = bits <= 0xffff && std::isnan(bf16_to_f32(uint16_t(bits))); break;
      default: break;
      }
      if (!is_nan)
        return false;
      nan_bits = bits;
      return true;
    }
    if (s.empty() || !(is_digit(s[0]) || s[0] == '.'))
      return false;
    const char *b = e.raw.data() + (e.raw.size() - s.size()) - (neg ? 1 : 0);
    const char *end = e.raw.data() + e.raw.size();
    if (dt == DType::f32) {
      float f = 0;
      auto r = std::from_chars(b, end, f);
      if (r.ec != std::errc() || r.ptr != end)
        return false;
      v = f;
      return true;
    }
    auto r = std::from_chars(b, end, v);
    return r.ec == std::errc() && r.ptr == end;
  }

  void parse_constant(const Token &name) {
    auto [dtype, shape] = parse_type();
    if (is_punct("<"))
      fail("constant " + spell_value(name.text) +
           " is elided (printed with max_constant_elements) and cannot be read back");
    Token open = tok_;
    expect("[");
    Tensor t(dtype, shape);
    int64_t n = 0;
    if (!is_punct("]")) {
      do {
        if (n >= t.numel())
          fail("constant " + spell_value(name.text) + " has more than the " +
               std::to_string(t.numel()) + " elements of " + type_str(dtype, shape));
        parse_element(t, n++);
      } while (accept(","));
    }
    if (n != t.numel())
      fail("constant " + spell_value(name.text) + " has " + std::to_string(n) + " elements but " +
           type_str(dtype, shape) + " needs " + std::to_string(t.numel()));
    expect("]");
    check_new_name(name);
    g_->add_constant(name.text, std::move(t));
  }

  AttrValue parse_attr_value() {
    if (tok_.kind == Tok::String)
      return take().text;
    if (tok_.kind == Tok::Number)
      return parse_scalar_attr(take());
    if (!is_punct("["))
      expected("an attribute value");
    take();
    std::vector<Token> elems;
    if (!is_punct("]")) {
      do {
        if (tok_.kind != Tok::Number)
          expected("a number");
        elems.push_back(take());
      } while (accept(","));
    }
    expect("]");
    // `[]f` is the empty floats list; a list with any float element is floats.
    bool floats = false;
    if (elems.empty() && is_ident("f")) {
      take();
      floats = true;
    }
    for (const Token &e : elems)
      floats = floats || looks_float(e.raw);
    if (floats) {
      std::vector<double> v;
      for (const Token &e : elems)
        v.push_back(float_attr(e));
      return v;
    }
    std::vector<int64_t> v;
    for (const Token &e : elems)
      v.push_back(parse_int(e, "an integer"));
    return v;
  }

  static bool looks_float(const std::string &raw) {
    return raw.find_first_of(".eEin") != std::string::npos;
  }

  double float_attr(const Token &e) {
    double v = 0;
    std::optional<uint64_t> nan_bits;
    if (!parse_float_token(e, DType::f64, v, nan_bits))
      Lexer::fail(e, "malformed number '" + e.raw + "'");
    if (nan_bits)
      v = std::bit_cast<double>(*nan_bits);
    return v;
  }

  AttrValue parse_scalar_attr(const Token &e) {
    if (looks_float(e.raw))
      return float_attr(e);
    return parse_int(e, "an integer");
  }

  void parse_node(const std::vector<Token> &results) {
    if (tok_.kind != Tok::Ident)
      expected("an op name");
    Token op_tok = take();
    std::optional<OpKind> op = parse_op(op_tok.text);
    if (!op)
      Lexer::fail(op_tok, "unknown op '" + op_tok.text + "'");
    expect("(");
    std::vector<Value *> inputs;
    if (!is_punct(")")) {
      do {
        if (is_ident("_")) {
          take();
          inputs.push_back(nullptr);
          continue;
        }
        inputs.push_back(lookup(expect_value()));
      } while (accept(","));
    }
    expect(")");
    Attrs attrs;
    if (accept("{")) {
      if (!is_punct("}")) {
        do {
          Token key = take();
          if (key.kind != Tok::Ident && key.kind != Tok::String)
            Lexer::fail(key, "expected an attribute name but found '" + key.raw + "'");
          if (attrs.has(key.text))
            Lexer::fail(key, "attribute '" + key.text + "' is given twice");
          expect("=");
          attrs.set(key.text, parse_attr_value());
        } while (accept(","));
      }
      expect("}");
    }
    std::vector<std::pair<DType, Shape>> types;
    if (!results.empty()) {
      expect(":");
      do
        types.push_back(parse_type());
      while (accept(","));
      if (types.size() != results.size())
        Lexer::fail(op_tok, std::to_string(results.size()) + " results but " +
                                std::to_string(types.size()) + " types");
    }
    std::string loc;
    if (is_ident("loc")) {
      take();
      expect("(");
      loc = expect_string();
      expect(")");
    }
    std::set<std::string> seen;
    for (const Token &r : results) {
      check_new_name(r);
      if (!seen.insert(r.text).second)
        Lexer::fail(r, "value " + spell_value(r.text) + " is defined twice");
    }
    Node *n = g_->add_node_typed(*op, std::move(inputs), std::move(attrs), loc, types);
    // The outputs got placeholder names, which may be the names another output of this very
    // node wants; move them all out of the way before naming them.
    for (Value *v : n->outputs)
      g_->set_name(v, g_->unique_name("\x01parser-tmp"));
    for (size_t i = 0; i < results.size(); ++i)
      g_->set_name(n->outputs[i], results[i].text);
  }

  Lexer lex_;
  Token tok_;
  std::unique_ptr<Graph> g_;
};

} // namespace

std::unique_ptr<Graph> parse_graph(std::string_view text) { return Parser(text).parse(); }

} // namespace kiln
