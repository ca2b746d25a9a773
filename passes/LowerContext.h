#pragma once
/// Internal to lowering: the state shared by the per-op lowering functions.
#include "passes/Program.h"

#include <string>
#include <vector>

namespace kiln {

/// Builds one kernel: parameters, fresh variable and local-buffer ids.
class KernelBuilder {
public:
  explicit KernelBuilder(std::string name) { k_.name = std::move(name); }
  /// Adds a buffer parameter bound to program buffer `buffer_id`; returns the kernel-local
  /// buffer id to use in load/store.
  int param(const Program &p, int buffer_id, bool output);
  int new_var() { return k_.next_var++; }
  int new_local() { return k_.next_buf++; }
  /// Forbids fusing a * b + c into one FMA in this kernel (Kernel::fp_contract).
  void no_fp_contract() { k_.fp_contract = false; }
  /// The finished kernel and the program buffer each param binds.
  Kernel finish(Stmt body, int64_t parallel_extent);
  const std::vector<int> &args() const { return args_; }

private:
  Kernel k_;
  std::vector<int> args_;
};

struct LowerContext {
  const Graph &g;
  const LowerOptions &opt;
  Program &prog;
  std::vector<int> value_buffer; ///< Value::id -> buffer id (-1 for absent)

  /// The buffer of a graph value.
  int buffer(const Value *v) const { return value_buffer.at(v->id); }
  /// A new internal buffer (packed weights, scratch); `weight_only` when computed from
  /// constants only.
  int add_buffer(const std::string &name, DType dtype, Shape shape, bool weight_only);
  /// Appends a launch of `k` with the program buffers `args` (one per kernel param).
  void launch(Kernel k, std::vector<int> args, bool weight_only, const Node &n);
  /// True when the value is computed from constants only.
  bool is_weight(const Value *v) const;
  /// Elements per parallel task of the loop nests (passes/LowerLoops.h): opt.task_elems when
  /// set, else the CPU default lw::kTaskElems.
  int64_t task_elems() const;
};

// One lowering function per op family (passes/Lower*.cpp). Each appends launches for `n`.
void lower_conv(LowerContext &cx, const Node &n);           // Conv, ConvInteger
void lower_conv_transpose(LowerContext &cx, const Node &n); // ConvTranspose
void lower_qlinear_conv(LowerContext &cx, const Node &n);   // QLinearConv (VNNI-shaped)
void lower_pool(LowerContext &cx, const Node &n);           // MaxPool, AveragePool, Global*Pool
void lower_matmul(LowerContext &cx, const Node &n);         // MatMul, MatMulInteger, Gemm
void lower_batchnorm(LowerContext &cx, const Node &n);      // BatchNormalization
void lower_elementwise(LowerContext &cx, const Node &n);    // unary, binary, Where, Cast, Clip...
void lower_movement(LowerContext &cx, const Node &n); // Concat, Split, Slice, Reshape, Transpose,
                                                      // Expand, Pad, Tile, Gather*, Identity
void lower_resize(LowerContext &cx, const Node &n);
void lower_reduce(LowerContext &cx,
                  const Node &n);                  // Reduce*, ArgMax/Min, TopK, Softmax, LogSoftmax
void lower_quant(LowerContext &cx, const Node &n); // Quantize/Dequantize/DynamicQuantizeLinear
/// saturate(round_half_even(v) + zp) as `t` (u8, i8 or i16), v f32 and zp i32: QuantizeLinear's
/// rounding (passes/LowerQuant.cpp), shared with QLinearConv's epilogue.
Expr saturate_round(const Node &n, Expr v, Expr zp, DType t);

} // namespace kiln
