#pragma once
/// How kernel IR types live in LLVM: register types (what expressions compute in) versus
/// memory types (what buffers hold), and the conversions between them. Internal to
/// codegen/llvm.
///
///   dtype    register        memory
///   f32      float           float
///   f16      float           half     values kept f16-exact: rounded after every operation
///   bf16     float           i16      same, rounding done with integer bit operations
///   f64      double          double
///   iN/u8    iN              iN       u8 has unsigned semantics (zext, uitofp, udiv, ...)
///   boolean  i1              i8 (0/1)
/// Vectors (lanes > 1) are <lanes x T> of the same element types.
#include "ir/Kernel.h"

#include <llvm/IR/IRBuilder.h>

namespace kiln::cpu {

llvm::Type *reg_type(llvm::LLVMContext &ctx, KType t);
llvm::Type *mem_type(llvm::LLVMContext &ctx, DType t, int lanes = 1);

/// Memory value -> register value and back (f16/bf16 widen to float, bool is i8 0/1).
llvm::Value *from_mem(llvm::IRBuilder<> &b, llvm::Value *v, DType t);
llvm::Value *to_mem(llvm::IRBuilder<> &b, llvm::Value *v, DType t);

/// Rounds a float register value to the precision of `t` (identity unless f16/bf16).
llvm::Value *round_to(llvm::IRBuilder<> &b, llvm::Value *v, DType t);

/// Constants of type t (splat when lanes > 1); f16/bf16 immediates are rounded to the format.
llvm::Value *const_int(llvm::LLVMContext &ctx, KType t, int64_t v);
llvm::Value *const_float(llvm::LLVMContext &ctx, KType t, double v);

/// ONNX Cast: float -> int truncates toward zero (saturating, NaN -> 0), -> bool is != 0,
/// bool -> x is 0/1, u8 converts unsigned.
llvm::Value *emit_cast(llvm::IRBuilder<> &b, llvm::Value *v, KType from, KType to);
/// The bits of v (type from) as type to; total widths must match.
llvm::Value *emit_reinterpret(llvm::IRBuilder<> &b, llvm::Value *v, KType from, KType to);

/// Replicates v to `lanes` lanes (v scalar, or a vector whose lanes divide `lanes`).
llvm::Value *splat(llvm::IRBuilder<> &b, llvm::Value *v, int lanes);

bool is_unsigned(DType t); ///< u8 and boolean

} // namespace kiln::cpu
