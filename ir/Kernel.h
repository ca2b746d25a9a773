#pragma once
/// The kernel loop IR: one kernel per (fused) op group, as loop nests over index expressions,
/// loads and stores, scalar or vector expressions and local accumulators. Backends only render
/// it; tiling, vectorisation, unrolling and parallelisation are expressed in it (For kinds,
/// Ramp/Broadcast vectors), not special-cased inside a backend.
///
///   kernel relu_f32(buf0: f32[1024] in, buf1: f32[1024] out) parallel 64:
///     parallel for i0 in [0, 64):          // split across the thread pool by the runtime
///       for i1 in [0, 16) vectorized:      // rendered as one 16-lane expression
///         buf1[i0*16 + i1] = max(buf0[i0*16 + i1], 0.0f)
///
/// Kernel ABI (every backend): void fn(void *const *args, int64_t begin, int64_t end), args[i]
/// the base pointer of the kernel's i-th buffer parameter; the one outermost Parallel loop runs
/// over [begin, end) instead of [min, min+extent) so the runtime can split it over threads.
#include "ir/DType.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// Element type plus vector width (lanes == 1: scalar).
struct KType {
  DType dtype = DType::i64;
  int lanes = 1;
  bool operator==(const KType &) const = default;
  KType with_lanes(int l) const { return {dtype, l}; }
};

enum class BinOp {
  Add,
  Sub,
  Mul,
  Div, // Div on integers truncates toward zero
  Mod, // integers: C remainder (sign of dividend); floats: fmod
  Min,
  Max,
  Pow,
  Lt,
  Le,
  Eq,
  Ne, // -> boolean with the operands' lanes
  And,
  Or, // boolean (or integer bitwise)
  Shl,
  Shr, // integers; Shr is arithmetic for signed types
};

enum class UnOp {
  Neg,
  Abs,
  Not,
  Exp,
  Log,
  Sqrt,
  Tanh,
  Erf,
  Sigmoid,
  Floor,
  Ceil,
  Round, // Round: half to even
};

enum class ExprKind {
  IntImm,      // ival, type i64 (or any integer dtype)
  FloatImm,    // fval
  Var,         // a loop or let variable: id; always i64 scalar
  Load,        // buf[args[0]] with optional predicate args[1] (lanes-wide; false lanes read 0)
  Unary,       // uop(args[0])
  Binary,      // bop(args[0], args[1]); operands have equal types
  Select,      // args[0] ? args[1] : args[2]
  Cast,        // args[0] converted to type (ONNX Cast semantics; float->int truncates)
  Reinterpret, // args[0]'s bits as type (same total width)
  Ramp,        // args[0] + k*args[1] for k in [0, lanes): base and stride are i64 scalars
  Broadcast,   // args[0] replicated to lanes
  // args[0] + sum over k in [0, 4) of u8(byte k of args[1]) * i8(byte k of args[2]): all three
  // i32 with equal lanes, the sum wraps (VPDPBUSD; the four products of one lane cannot
  // overflow i32)
  Dot4,
};

struct ExprNode;
using Expr = std::shared_ptr<const ExprNode>;

struct ExprNode {
  ExprKind kind;
  KType type;
  int64_t ival = 0; ///< IntImm value
  double fval = 0;  ///< FloatImm value
  int id = -1;      ///< Var: variable id; Load: buffer id (kernel parameter or local)
  BinOp bop = BinOp::Add;
  UnOp uop = UnOp::Neg;
  std::vector<Expr> args;
};

enum class ForKind {
  Serial,
  Parallel,   ///< at most one per kernel, outermost: split across threads by the runtime
  Vectorized, ///< constant extent; the body becomes one lanes-wide computation
  Unrolled,   ///< constant extent; the body is replicated
};

enum class StmtKind {
  For,      // for var in [min, min+extent): body
  Store,    // buf[index] = value, optional predicate (lanes-wide)
  Block,    // body statements in order
  Let,      // var = value; body (value is i64 scalar)
  If,       // if cond: body[0] else body[1] (body[1] may be null)
  Allocate, // local buffer `buf` of dtype/size elements (registers or stack): body
};

struct StmtNode;
using Stmt = std::shared_ptr<const StmtNode>;

struct StmtNode {
  StmtKind kind;
  int var = -1; ///< For/Let variable
  int buf = -1; ///< Store/Allocate buffer id
  ForKind for_kind = ForKind::Serial;
  Expr min, extent;             ///< For bounds (i64 scalars)
  Expr index, value, predicate; ///< Store (predicate may be null); Let value; If condition in value
  DType dtype = DType::f32;     ///< Allocate element type
  int64_t size = 0;             ///< Allocate element count
  std::vector<Stmt> body;
};

/// A buffer parameter of a kernel. Buffer ids below params.size() are parameters; locals made
/// by Allocate use larger ids.
struct KernelParam {
  std::string name;
  DType dtype;
  int64_t numel;
  bool output; ///< written by the kernel
};

struct Kernel {
  /// Follows the grammar op_detail_dtype, e.g. conv2d_3x3s2_silu_f32 (a profile reads itself).
  std::string name;
  std::vector<KernelParam> params;
  Stmt body;
  /// Extent of the outermost Parallel loop (1 when there is none): the runtime's work size.
  int64_t parallel_extent = 1;
  /// Whether a backend may fuse a float a * b + c into one FMA (one rounding instead of two).
  /// Elementwise kernels turn it off: each ONNX op there rounds once, as in ONNX Runtime, which
  /// a quantized model's rounding depends on.
  bool fp_contract = true;
  int next_var = 0; ///< ids below this are used by Var/For/Let
  int next_buf = 0; ///< ids below this are used by params and Allocate
};

// ---- builders (type-checked with KILN_ASSERT; integer immediates are i64) ----
Expr imm(int64_t v);
Expr fimm(double v, DType t = DType::f32);
Expr var(int id);
Expr load(int buf, KType type, Expr index, Expr predicate = nullptr);
Expr unary(UnOp op, Expr a);
Expr binary(BinOp op, Expr a, Expr b);
Expr select(Expr c, Expr a, Expr b);
Expr cast(KType to, Expr a);
Expr reinterpret(KType to, Expr a);
Expr ramp(Expr base, Expr stride, int lanes);
Expr broadcast(Expr a, int lanes);
/// acc + the 4-way dot of a's bytes (unsigned) with b's bytes (signed), lane by lane: see
/// ExprKind::Dot4. Scalar operands are broadcast to the widest.
Expr dot4(Expr acc, Expr a, Expr b);
inline Expr operator+(Expr a, Expr b) { return binary(BinOp::Add, a, b); }
inline Expr operator-(Expr a, Expr b) { return binary(BinOp::Sub, a, b); }
inline Expr operator*(Expr a, Expr b) { return binary(BinOp::Mul, a, b); }

Stmt for_loop(int var, Expr min, Expr extent, ForKind kind, Stmt body);
Stmt store(int buf, Expr index, Expr value, Expr predicate = nullptr);
Stmt block(std::vector<Stmt> body);
Stmt let(int var, Expr value, Stmt body);
Stmt if_then(Expr cond, Stmt then_body, Stmt else_body = nullptr);
Stmt allocate(int buf, DType dtype, int64_t size, Stmt body);

/// Text form, for tests, `--print-kernels` and debugging. Deterministic.
std::string kernel_to_string(const Kernel &k);

} // namespace kiln
