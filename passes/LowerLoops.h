#pragma once
/// Internal to lowering of the simple op families (elementwise, movement, resize, reduce,
/// quant): naming, typed constants, and the parallel loop nests they all share.
///
///   emit_rows(rows=64, cols=100, lanes=16):     parallel for t in [0, 1):
///                                                 for r in [0, 64):
///                                                   for v in [0, 6): for l in [0,16) vectorized
///                                                   for j in [96, 100): (scalar tail)
#include "passes/LowerContext.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::lw {

/// Elements per parallel task to aim for: below this the thread hand-off costs more than the
/// work itself.
inline constexpr int64_t kTaskElems = 16384;

/// Elements per parallel task of the lowering in progress: LowerOptions::task_elems when set
/// (a GPU wants one small chunk per work item), else kTaskElems. lower() sets it for its
/// duration with a TaskElemsScope (per thread).
int64_t task_elems();
class TaskElemsScope {
public:
  explicit TaskElemsScope(int64_t elems); ///< elems <= 0: kTaskElems
  ~TaskElemsScope();
  TaskElemsScope(const TaskElemsScope &) = delete;
  TaskElemsScope &operator=(const TaskElemsScope &) = delete;

private:
  int64_t saved_;
};

/// "LeakyRelu" -> "leaky_relu".
std::string snake(std::string_view name);
/// Kernel name by the grammar op_detail_dtype ("add_bcast_f32"); empty detail is left out.
std::string kernel_name(OpKind op, const std::string &detail, DType t);

/// The type arithmetic runs in: f32 for f32 and the half formats (rounded to storage once, as
/// the reference does), f64 for f64, the type itself for integers and bool.
DType compute_dtype(DType t);
/// A scalar constant of type t.
Expr imm_of(DType t, double v);
/// `e` converted to t (no-op when it already has t).
Expr convert(DType t, Expr e);
/// Scalar load of `buf` (element type `stored`) converted to `compute`.
Expr load_as(int buf, DType stored, Expr index, DType compute);
inline Expr emin(Expr a, Expr b) { return binary(BinOp::Min, a, b); }
inline Expr emax(Expr a, Expr b) { return binary(BinOp::Max, a, b); }
inline Expr ediv(Expr a, Expr b) { return binary(BinOp::Div, a, b); }
inline Expr emod(Expr a, Expr b) { return binary(BinOp::Mod, a, b); }
/// a + b * s for a constant s, leaving out what is zero and the multiply by one.
Expr add_scaled(Expr a, Expr b, int64_t s);

/// Row-major strides of `in` read as broadcast to `out` (0 along broadcast axes).
std::vector<int64_t> broadcast_strides(const Shape &in, const Shape &out);

/// A walk over `dims` where operand k reads with strides[k] (elements; may be 0 or negative).
struct StridedView {
  Shape dims;
  std::vector<std::vector<int64_t>> strides;
};
/// Drops size-1 axes and merges neighbours that every operand walks contiguously, so that
/// same-shape operands become one flat axis and per-channel ones two.
StridedView collapse(StridedView v);

/// sum_d coord_d(flat) * strides[d] for the row-major coordinates of `flat` in `dims` (axes of
/// size 1 or stride 0 cost nothing). With mods, coord_d is taken modulo mods[d] first (> 0).
Expr unravel_offset(Expr flat, const Shape &dims, const std::vector<int64_t> &strides,
                    const std::vector<int64_t> &mods = {});

/// A kernel body whose outermost loop is the Parallel one.
struct Loops {
  Stmt body;
  int64_t parallel_extent = 1;
};

/// rows x cols elements, col the contiguous index: body(row, col) is one element's statement.
/// With `vector`, cols run in Vectorized chunks of `lanes` plus a scalar tail, so body may only
/// use col in contiguous (or invariant) accesses; otherwise a plain serial loop. Big column
/// counts are split across tasks, small ones grouped by rows to ~task_elems() per task.
Loops emit_rows(KernelBuilder &kb, int64_t rows, int64_t cols, int lanes, bool vector,
                const std::function<Stmt(Expr row, Expr col)> &body);

/// `items` independent work items costing about `item_cost` elements each: body(item).
Loops emit_items(KernelBuilder &kb, int64_t items, int64_t item_cost,
                 const std::function<Stmt(Expr item)> &body);

/// The lanes of one work item of emit_lanes: positions [base, base + count) of the inner axis,
/// as loop kind `kind` (Vectorized for a full chunk, Serial for the tail).
struct LaneSpan {
  Expr base;
  int64_t count;
  ForKind kind;
};
/// for l in span: body(base + l, l), l the index into lane-wide local accumulators.
Stmt over_lanes(KernelBuilder &kb, const LaneSpan &span,
                const std::function<Stmt(Expr inner, Expr lane)> &body);
/// [outer, len, inner] axis kernels (softmax, arg/reduce): one work item per (outer, chunk of
/// `lanes` inner positions); body(o, span) handles all `len` positions of those lanes.
Loops emit_lanes(KernelBuilder &kb, int64_t outer, int64_t len, int64_t inner, int lanes,
                 const std::function<Stmt(Expr o, const LaneSpan &span)> &body);

/// Appends the launch (weight_only when every input of n is a weight).
void emit(LowerContext &cx, const Node &n, KernelBuilder &kb, Loops l);

/// The kiln::Error for what cannot be lowered: "node 'x' (Op): no CPU kernel for <what>".
[[noreturn]] void no_kernel(const Node &n, const std::string &what);

} // namespace kiln::lw
