#include "codegen/opencl/OpenclEmitter.h"

#include "ir/Error.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <unordered_map>

namespace kiln {
namespace {

bool is_unsigned(DType t) { return t == DType::u8 || t == DType::boolean; }

/// The OpenCL C type a value of `t` is computed in. f16 and bf16 compute in float and are
/// rounded after every operation (what the LLVM backend does); booleans are uchar 0/1 because
/// bool may not be stored in memory.
const char *reg_type(DType t) {
  switch (t) {
  case DType::f32:
  case DType::f16:
  case DType::bf16: return "float";
  case DType::f64: return "double";
  case DType::i64: return "long";
  case DType::i32: return "int";
  case DType::i16: return "short";
  case DType::i8: return "char";
  case DType::u8:
  case DType::boolean: return "uchar";
  }
  __builtin_unreachable();
}

/// The OpenCL C type an element of `t` is stored as (half is only ever pointed to, so it needs
/// no cl_khr_fp16: vload_half/vstore_half are core).
const char *mem_type(DType t) {
  switch (t) {
  case DType::f16: return "half";
  case DType::bf16: return "ushort";
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: return reg_type(t);
  }
  __builtin_unreachable();
}

/// Unsigned integer type of the same width (for Reinterpret).
const char *bits_type(DType t) {
  switch (dtype_size(t)) {
  case 1: return "uchar";
  case 2: return "ushort";
  case 4: return "uint";
  case 8: return "ulong";
  }
  KILN_ASSERT(false, "no element type of this width");
  return "";
}

/// A float literal of the value the LLVM backend would use (rounded to the format first).
std::string float_lit(double v, DType t) {
  bool dbl = t == DType::f64;
  if (t == DType::f16)
    v = f16_to_f32(f32_to_f16(static_cast<float>(v)));
  else if (t == DType::bf16)
    v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
  else if (!dbl)
    v = static_cast<float>(v);
  std::string cast = dbl ? "(double)" : "";
  if (std::isnan(v))
    return "(" + cast + "NAN)";
  if (std::isinf(v))
    return "(" + cast + (v < 0 ? "-INFINITY)" : "INFINITY)");
  char buf[64];
  std::snprintf(buf, sizeof buf, dbl ? "%a" : "%af", v);
  return std::string("(") + buf + ")";
}

std::string int_lit(int64_t v, DType t) {
  if (is_float(t))
    return float_lit(static_cast<double>(v), t);
  if (t == DType::boolean)
    return v != 0 ? "(uchar)1" : "(uchar)0";
  if (v == INT64_MIN)
    return "(" + std::string(reg_type(t)) + ")(-9223372036854775807L - 1)";
  return "((" + std::string(reg_type(t)) + ")" + std::to_string(v) + "L)";
}

std::string zero_of(DType t) { return is_float(t) ? float_lit(0, t) : int_lit(0, t); }

std::optional<double> float_imm(const Expr &e) {
  if (e->kind == ExprKind::FloatImm)
    return e->fval;
  if (e->kind == ExprKind::Broadcast)
    return float_imm(e->args[0]);
  return std::nullopt;
}

bool reads_buffer(const Expr &e, int buf) {
  if (!e)
    return false;
  if (e->kind == ExprKind::Load && e->id == buf)
    return true;
  for (const Expr &a : e->args)
    if (reads_buffer(a, buf))
      return true;
  return false;
}

class Renderer {
public:
  Renderer(const Kernel &k, std::string &out, bool &uses_f64)
      : k_(k), out_(out), uses_f64_(uses_f64) {}
  void run(const std::string &fn_name);

private:
  struct Buf {
    std::string ptr;
    DType dtype;
  };
  /// Expressions already rendered in the current statement (cleared at every statement, so a
  /// temporary is always in scope at its reuse and no load is reused across a store).
  struct Scope {
    int lanes = 1;
    std::unordered_map<const ExprNode *, std::string> cache;
  };

  [[noreturn]] void fail(const std::string &what) const {
    throw Error("kernel " + k_.name + ": the OpenCL backend cannot render " + what);
  }
  void line(const std::string &s) { out_ += std::string(2 * indent_, ' ') + s + "\n"; }
  std::string temp() { return "t" + std::to_string(next_temp_++); }
  const Buf &buf(int id) const {
    auto it = bufs_.find(id);
    if (it == bufs_.end())
      fail("an access to unknown buffer " + std::to_string(id));
    return it->second;
  }
  const char *rt(DType t) {
    uses_f64_ = uses_f64_ || t == DType::f64;
    return reg_type(t);
  }

  void stmt(const Stmt &s);
  void store(const StmtNode &s);
  void body(const StmtNode &s) {
    for (const Stmt &c : s.body)
      stmt(c);
  }

  std::string val(const Expr &e);
  std::string node(const ExprNode &e);
  std::string load_elem(const Buf &b, const std::string &i) const;
  std::string store_elem(const Buf &b, const std::string &i, const std::string &v) const;
  std::string unary(UnOp op, const std::string &a, DType t);
  std::string binary(BinOp op, const Expr &lhs, const Expr &rhs);
  std::string cast(const std::string &v, DType f, DType t);
  std::string reinterpret(const std::string &v, DType f, DType t);
  std::string round_to(DType t, const std::string &x) {
    if (t == DType::f16)
      return "kiln_rf16(" + x + ")";
    if (t == DType::bf16)
      return "kiln_rbf16(" + x + ")";
    return x;
  }
  std::string math(const char *fn, const std::string &a, DType t) {
    if (!is_float(t))
      fail(std::string(fn) + " of a non-float type");
    return round_to(t, std::string(fn) + "(" + a + ")");
  }

  const Kernel &k_;
  std::string &out_;
  bool &uses_f64_;
  int indent_ = 1;
  int next_temp_ = 0;
  std::unordered_map<int, Buf> bufs_;
  Scope scalar_;
  Scope *vec_ = nullptr;  ///< the lane loop being rendered, if any
  std::string lane_code_; ///< body of that loop (scalars go straight to out_, before it)
};

void Renderer::run(const std::string &fn_name) {
  std::string sig = "__kernel void " + fn_name + "(";
  for (size_t i = 0; i < k_.params.size(); ++i)
    sig += "__global uchar *a" + std::to_string(i) + ", long o" + std::to_string(i) + ", ";
  sig += "long begin, long end) {";
  out_ += sig + "\n";
  if (!k_.fp_contract)
    line("#pragma OPENCL FP_CONTRACT OFF");
  for (size_t i = 0; i < k_.params.size(); ++i) {
    const KernelParam &p = k_.params[i];
    std::string n = std::to_string(i);
    std::string ty = std::string("__global ") + (p.output ? "" : "const ") + mem_type(p.dtype);
    rt(p.dtype);
    line(ty + " *restrict b" + n + " = (" + ty + " *)(a" + n + " + o" + n + "); // " + p.name);
    bufs_[static_cast<int>(i)] = {"b" + n, p.dtype};
  }
  line("const long gid = begin + (long)get_global_id(0);");
  line("if (gid >= end)");
  line("  return;");
  if (k_.body)
    stmt(k_.body);
  out_ += "}\n\n";
}

// ---- statements ----

void Renderer::stmt(const Stmt &s) {
  scalar_.cache.clear();
  switch (s->kind) {
  case StmtKind::For: {
    std::string v = "i" + std::to_string(s->var);
    line("{");
    ++indent_;
    if (s->for_kind == ForKind::Parallel) {
      // One work item per iteration of the runtime's [begin, end) slice.
      line("const long " + v + " = gid;");
      body(*s);
    } else {
      std::string lo = val(s->min), ext = val(s->extent);
      std::string e = "e" + std::to_string(s->var);
      line("const long " + e + " = " + lo + " + " + ext + ";");
      line("for (long " + v + " = " + lo + "; " + v + " < " + e + "; ++" + v + ") {");
      ++indent_;
      body(*s);
      --indent_;
      line("}");
    }
    --indent_;
    line("}");
    return;
  }
  case StmtKind::Store: store(*s); return;
  case StmtKind::Block: body(*s); return;
  case StmtKind::Let: {
    line("{");
    ++indent_;
    std::string v = val(s->value);
    line("const long i" + std::to_string(s->var) + " = " + v + ";");
    body(*s);
    --indent_;
    line("}");
    return;
  }
  case StmtKind::If: {
    line("{");
    ++indent_;
    line("if (" + val(s->value) + ") {");
    ++indent_;
    stmt(s->body[0]);
    --indent_;
    if (s->body.size() > 1 && s->body[1]) {
      line("} else {");
      ++indent_;
      stmt(s->body[1]);
      --indent_;
    }
    line("}");
    --indent_;
    line("}");
    return;
  }
  case StmtKind::Allocate: {
    // Private memory; constant-indexed accumulators end up in registers.
    std::string n = "l" + std::to_string(s->buf), size = std::to_string(s->size);
    line("{");
    ++indent_;
    if (s->dtype == DType::f16) {
      line("ushort " + n + "_s[" + size + "];");
      line("__private half *" + n + " = (__private half *)" + n + "_s;");
    } else {
      line(std::string(rt(s->dtype)) + " " + n + "[" + size + "];");
    }
    bufs_[s->buf] = {n, s->dtype};
    body(*s);
    bufs_.erase(s->buf);
    --indent_;
    line("}");
    return;
  }
  }
}

void Renderer::store(const StmtNode &s) {
  const Buf &b = buf(s.buf);
  int lanes = s.value->type.lanes;
  line("{");
  ++indent_;
  if (lanes == 1) {
    std::string i = val(s.index), v = val(s.value);
    std::string st = store_elem(b, i, v);
    line(s.predicate ? "if (" + val(s.predicate) + ") " + st : st);
    --indent_;
    line("}");
    return;
  }
  // A vector statement: lane-invariant parts first, then one loop over the lanes. When the
  // statement reads the buffer it writes, every lane is computed before any is stored (the
  // vector semantics) through private arrays.
  Scope lane_scope;
  lane_scope.lanes = lanes;
  vec_ = &lane_scope;
  lane_code_.clear();
  std::string i = val(s.index), v = val(s.value);
  std::string p = s.predicate ? val(s.predicate) : "";
  vec_ = nullptr;
  bool two_phase = reads_buffer(s.value, s.buf) || reads_buffer(s.index, s.buf) ||
                   reads_buffer(s.predicate, s.buf);
  std::string n = std::to_string(lanes);
  auto lane_loop = [&](const std::string &code, const std::string &tail) {
    line("for (int l = 0; l < " + n + "; ++l) {");
    ++indent_;
    size_t pos = 0;
    while (pos < code.size()) {
      size_t nl = code.find('\n', pos);
      line(code.substr(pos, nl - pos));
      pos = nl + 1;
    }
    line(tail);
    --indent_;
    line("}");
  };
  if (!two_phase) {
    std::string st = store_elem(b, i, v);
    lane_loop(lane_code_, p.empty() ? st : "if (" + p + ") " + st);
  } else {
    line(std::string(rt(s.value->type.dtype)) + " sv[" + n + "];");
    line("long si[" + n + "];");
    line("uchar sp[" + n + "];");
    lane_loop(lane_code_,
              "sv[l] = " + v + "; si[l] = " + i + "; sp[l] = " + (p.empty() ? "1" : p) + ";");
    lane_loop("", "if (sp[l]) " + store_elem(b, "si[l]", "sv[l]"));
  }
  --indent_;
  line("}");
}

std::string Renderer::load_elem(const Buf &b, const std::string &i) const {
  switch (b.dtype) {
  case DType::f16: return "vload_half(" + i + ", " + b.ptr + ")";
  case DType::bf16: return "as_float((uint)" + b.ptr + "[" + i + "] << 16)";
  case DType::boolean: return "(uchar)(" + b.ptr + "[" + i + "] != 0)";
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8: return b.ptr + "[" + i + "]";
  }
  __builtin_unreachable();
}

std::string Renderer::store_elem(const Buf &b, const std::string &i, const std::string &v) const {
  switch (b.dtype) {
  case DType::f16: return "vstore_half_rte(" + v + ", " + i + ", " + b.ptr + ");";
  case DType::bf16: return b.ptr + "[" + i + "] = (ushort)(kiln_bf16_rbits(" + v + ") >> 16);";
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: return b.ptr + "[" + i + "] = " + v + ";";
  }
  __builtin_unreachable();
}

// ---- expressions ----

std::string Renderer::val(const Expr &e) {
  switch (e->kind) {
  case ExprKind::IntImm: return int_lit(e->ival, e->type.dtype);
  case ExprKind::FloatImm: return float_lit(e->fval, e->type.dtype);
  case ExprKind::Var: return "i" + std::to_string(e->id);
  case ExprKind::Broadcast:
    if (e->args[0]->type.lanes == 1)
      return val(e->args[0]);
    break;
  case ExprKind::Load:
  case ExprKind::Unary:
  case ExprKind::Binary:
  case ExprKind::Select:
  case ExprKind::Cast:
  case ExprKind::Reinterpret:
  case ExprKind::Ramp:
  case ExprKind::Dot4: break;
  }
  int lanes = e->type.lanes;
  Scope *scope = lanes == 1 ? &scalar_ : vec_;
  if (!scope || scope->lanes != lanes)
    fail("a " + std::to_string(lanes) + "-lane value in a statement of another width");
  if (auto it = scope->cache.find(e.get()); it != scope->cache.end())
    return it->second;
  std::string expr = node(*e);
  std::string name = temp();
  std::string decl = std::string("const ") + rt(e->type.dtype) + " " + name + " = " + expr + ";";
  if (lanes == 1)
    line(decl);
  else
    lane_code_ += decl + "\n";
  scope->cache[e.get()] = name;
  return name;
}

std::string Renderer::node(const ExprNode &e) {
  DType t = e.type.dtype;
  switch (e.kind) {
  case ExprKind::IntImm:
  case ExprKind::FloatImm:
  case ExprKind::Var: break; // rendered in val()
  case ExprKind::Load: {
    // A false predicate reads nothing and gives 0.
    const Buf &b = buf(e.id);
    std::string i = val(e.args[0]);
    std::string v = load_elem(b, i);
    if (e.args.size() < 2 || !e.args[1])
      return v;
    return "(" + val(e.args[1]) + " ? " + v + " : " + zero_of(t) + ")";
  }
  case ExprKind::Unary: return unary(e.uop, val(e.args[0]), t);
  case ExprKind::Binary: return binary(e.bop, e.args[0], e.args[1]);
  case ExprKind::Select:
    return "(" + val(e.args[0]) + " ? " + val(e.args[1]) + " : " + val(e.args[2]) + ")";
  case ExprKind::Cast: return cast(val(e.args[0]), e.args[0]->type.dtype, t);
  case ExprKind::Reinterpret:
    if (e.args[0]->type.lanes != e.type.lanes)
      fail("a Reinterpret that changes the lane count");
    return reinterpret(val(e.args[0]), e.args[0]->type.dtype, t);
  case ExprKind::Ramp: return "(" + val(e.args[0]) + " + (long)l * " + val(e.args[1]) + ")";
  case ExprKind::Broadcast: fail("a Broadcast of a vector to a wider vector");
  case ExprKind::Dot4:
    return "kiln_dot4(" + val(e.args[0]) + ", " + val(e.args[1]) + ", " + val(e.args[2]) + ")";
  }
  KILN_ASSERT(false, "immediate rendered as a node");
  return "";
}

std::string Renderer::unary(UnOp op, const std::string &a, DType t) {
  bool f = is_float(t);
  bool boolean = t == DType::boolean;
  switch (op) {
  case UnOp::Neg: return boolean ? a : "-" + a;
  case UnOp::Abs:
    if (f)
      return "fabs(" + a + ")";
    if (is_unsigned(t))
      return a;
    return "(" + std::string(rt(t)) + ")abs(" + a + ")"; // abs(INT_MIN) wraps, as in LLVM
  case UnOp::Not:
    if (f)
      fail("Not of a float");
    return boolean ? "(uchar)!" + a : "~" + a;
  case UnOp::Exp: return math("exp", a, t);
  case UnOp::Log: return math("log", a, t);
  case UnOp::Sqrt: return math("sqrt", a, t);
  case UnOp::Tanh: return math("tanh", a, t);
  case UnOp::Erf: return math("erf", a, t);
  case UnOp::Sigmoid: {
    if (!f)
      fail("Sigmoid of a non-float type");
    std::string one = float_lit(1, t);
    return round_to(t, one + " / (" + one + " + exp(-" + a + "))");
  }
  case UnOp::Floor: return f ? "floor(" + a + ")" : a;
  case UnOp::Ceil: return f ? "ceil(" + a + ")" : a;
  case UnOp::Round: return f ? "rint(" + a + ")" : a; // rint: to nearest, ties to even
  }
  __builtin_unreachable();
}

std::string Renderer::binary(BinOp op, const Expr &lhs, const Expr &rhs) {
  DType t = lhs->type.dtype;
  bool f = is_float(t), u = is_unsigned(t), boolean = t == DType::boolean;
  if (op == BinOp::Pow && f) {
    // The constant exponents the LLVM backend computes exactly.
    if (std::optional<double> y = float_imm(rhs)) {
      std::string x = val(lhs);
      if (*y == 1.0)
        return x;
      if (*y == 2.0)
        return round_to(t, x + " * " + x);
      if (*y == 3.0)
        return round_to(t, x + " * " + x + " * " + x);
      if (*y == 0.5)
        return round_to(t, "sqrt(" + x + ")");
    }
  }
  std::string a = val(lhs), b = val(rhs);
  std::string ty = rt(t);
  auto arith = [&](const char *o) {
    if (boolean) // i1 arithmetic wraps mod 2
      return std::string(*o == '*' ? "(uchar)(" + a + " & " + b + ")"
                                   : "(uchar)(" + a + " ^ " + b + ")");
    return f ? round_to(t, a + " " + o + " " + b) : "(" + ty + ")(" + a + " " + o + " " + b + ")";
  };
  switch (op) {
  case BinOp::Add: return arith("+");
  case BinOp::Sub: return arith("-");
  case BinOp::Mul: return arith("*");
  case BinOp::Div:
  case BinOp::Mod: {
    bool rem = op == BinOp::Mod;
    if (f)
      return round_to(t, rem ? "fmod(" + a + ", " + b + ")" : a + " / " + b);
    // Defined results where the hardware traps or C is undefined, as in the LLVM backend:
    // x / 0 = x, x % 0 = 0, x / -1 = -x, x % -1 = 0.
    std::string d = "(" + b + " == 0 ? (" + ty + ")1 : " + b + ")";
    if (u)
      return "(" + ty + ")(" + a + (rem ? " % " : " / ") + d + ")";
    if (rem)
      return "(" + b + " == -1 ? (" + ty + ")0 : (" + ty + ")(" + a + " % " + d + "))";
    return "(" + b + " == -1 ? (" + ty + ")(-" + a + ") : (" + ty + ")(" + a + " / " + d + "))";
  }
  case BinOp::Min:
    if (boolean)
      return "(uchar)(" + a + " & " + b + ")";
    return "(" + a + " < " + b + " ? " + a + " : " + b + ")"; // a NaN in a yields b
  case BinOp::Max:
    if (boolean)
      return "(uchar)(" + a + " | " + b + ")";
    return "(" + a + " > " + b + " ? " + a + " : " + b + ")";
  case BinOp::Pow:
    if (t == DType::f64)
      return "pow(" + a + ", " + b + ")";
    if (f)
      return round_to(t, "pow(" + a + ", " + b + ")");
    // Integer pow: through f64, truncating back like ONNX Runtime does.
    uses_f64_ = true;
    return cast("pow((double)" + a + ", (double)" + b + ")", DType::f64, t);
  case BinOp::Lt: return "(uchar)(" + a + " < " + b + ")";
  case BinOp::Le: return "(uchar)(" + a + " <= " + b + ")";
  case BinOp::Eq: return "(uchar)(" + a + " == " + b + ")";
  case BinOp::Ne: return "(uchar)(" + a + " != " + b + ")"; // true for NaN, like fcmp une
  case BinOp::And:
    if (f)
      fail("And of floats");
    return "(" + ty + ")(" + a + " & " + b + ")";
  case BinOp::Or:
    if (f)
      fail("Or of floats");
    return "(" + ty + ")(" + a + " | " + b + ")";
  case BinOp::Shl:
  case BinOp::Shr: {
    if (f)
      fail("a shift of floats");
    // Shifting by >= the width shifts everything out (the amount compares unsigned).
    std::string bits = std::to_string(8 * dtype_size(t));
    std::string big = "((ulong)" + b + " >= " + bits + "UL)";
    if (op == BinOp::Shl)
      return "(" + big + " ? (" + ty + ")0 : (" + ty + ")(" + a + " << " + b + "))";
    if (u)
      return "(" + big + " ? (" + ty + ")0 : (" + ty + ")(" + a + " >> " + b + "))";
    return "(" + ty + ")(" + a + " >> (" + big + " ? " + bits + " - 1 : " + b + "))";
  }
  }
  __builtin_unreachable();
}

std::string Renderer::cast(const std::string &v, DType f, DType t) {
  if (f == t)
    return v;
  std::string ty = rt(t);
  if (t == DType::boolean)
    return "(uchar)(" + v + " != 0)"; // NaN != 0: true, like fcmp une
  if (f == DType::boolean)
    return "(" + ty + ")" + v;
  bool ff = is_float(f), tf = is_float(t);
  if (ff && tf) {
    if (t == DType::f64)
      return "(double)" + v;
    if (f == DType::f64 && t == DType::f16)
      return "kiln_rf16d(" + v + ")"; // one rounding, straight to half
    return round_to(t, f == DType::f64 ? "(float)" + v : v);
  }
  if (ff) {
    // Saturating, NaN -> 0 (LLVM's fptosi.sat / fptoui.sat).
    int bits = static_cast<int>(8 * dtype_size(t));
    const char *sfx = f == DType::f64 ? "" : "f";
    auto pow2 = [&](int k, bool neg) {
      return std::string(neg ? "-" : "") + "0x1p" + std::to_string(k) + sfx;
    };
    std::string lo = is_unsigned(t) ? std::string("0") : pow2(bits - 1, true);
    std::string hi = pow2(is_unsigned(t) ? bits : bits - 1, false);
    int64_t max = is_unsigned(t) ? (int64_t(1) << bits) - 1
                                 : static_cast<int64_t>((uint64_t(1) << (bits - 1)) - 1);
    int64_t min = is_unsigned(t) ? 0 : -max - 1;
    return "(isnan(" + v + ") ? (" + ty + ")0 : " + v + " <= " + lo + " ? " + int_lit(min, t) +
           " : " + v + " >= " + hi + " ? " + int_lit(max, t) + " : (" + ty + ")" + v + ")";
  }
  if (tf) // int -> float: round to nearest, then to the format
    return round_to(t, "(" + std::string(t == DType::f64 ? "double" : "float") + ")" + v);
  return "(" + ty + ")" + v; // C integer conversions extend by the source's signedness
}

std::string Renderer::reinterpret(const std::string &v, DType f, DType t) {
  if (dtype_size(f) != dtype_size(t))
    fail("a Reinterpret between types of different widths");
  std::string bits;
  switch (f) {
  case DType::f16: bits = "kiln_f16_bits(" + v + ")"; break;
  case DType::bf16: bits = "(ushort)(kiln_bf16_rbits(" + v + ") >> 16)"; break;
  case DType::u8:
  case DType::boolean: bits = v; break;
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8: bits = "as_" + std::string(bits_type(f)) + "(" + v + ")"; break;
  }
  switch (t) {
  case DType::f16: return "kiln_f16_from_bits(" + bits + ")";
  case DType::bf16: return "as_float((uint)" + bits + " << 16)";
  case DType::boolean: return "(uchar)(" + bits + " != 0)";
  case DType::u8: return bits;
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8: return "as_" + std::string(rt(t)) + "(" + bits + ")";
  }
  __builtin_unreachable();
}

const char *kPrelude = R"(// Generated by Kiln's OpenCL backend (codegen/opencl).
float kiln_rf16(float x) {
  ushort h;
  vstore_half_rte(x, 0, (__private half *)&h);
  return vload_half(0, (__private half *)&h);
}
ushort kiln_f16_bits(float x) {
  ushort h;
  vstore_half_rte(x, 0, (__private half *)&h);
  return h;
}
float kiln_f16_from_bits(ushort h) { return vload_half(0, (__private half *)&h); }
uint kiln_bf16_rbits(float v) {
  uint bits = as_uint(v);
  uint r = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  return isnan(v) ? (bits | 0x00400000u) : r;
}
float kiln_rbf16(float v) { return as_float(kiln_bf16_rbits(v)); }
int kiln_dot4(int acc, int a, int b) {
  int s = 0;
  for (int k = 0; k < 32; k += 8)
    s += (int)((uint)a >> k & 0xffu) * (int)(char)((uint)b >> k);
  return (int)((uint)acc + (uint)s);
}

)";

const char *kPreludeF64 = R"(#pragma OPENCL EXTENSION cl_khr_fp64 : enable
float kiln_rf16d(double x) {
  ushort h;
  vstore_half_rte(x, 0, (__private half *)&h);
  return vload_half(0, (__private half *)&h);
}
)";

std::string identifier(const std::string &s) {
  std::string r;
  for (char c : s)
    r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r;
}

} // namespace

OpenclSource render_opencl(const std::vector<Kernel> &kernels) {
  OpenclSource r;
  std::string body;
  bool uses_f64 = false;
  for (size_t i = 0; i < kernels.size(); ++i) {
    // k<i>_ keeps names unique and valid whatever the kernel is called.
    std::string name = "k" + std::to_string(i) + "_" + identifier(kernels[i].name);
    Renderer(kernels[i], body, uses_f64).run(name);
    r.kernel_names.push_back(name);
  }
  r.source = std::string(uses_f64 ? kPreludeF64 : "") + kPrelude + body;
  return r;
}

} // namespace kiln
