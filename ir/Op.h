#pragma once
/// The op table (ir/ops.def) as code: OpKind, each op's name, family and traits, and one enum
/// per family; all constexpr but op_family_name.
///
///   switch (op_family(n.op)) {          // a dozen families, not 70 ops
///   case OpFamily::Conv:
///     switch (family_op<OpFamily::Conv>(n.op)) { // ConvOp: only Conv's ops, no default
///     case ConvOp::Conv: ...
#include "ir/Error.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

enum class OpKind {
#define KILN_OP(name, family, traits) name,
#include "ir/ops.def"
#undef KILN_OP
};

/// Who handles an op: the reference interpreter, shape inference and lowering each dispatch on
/// the family, then each family's code on its own enum (below).
enum class OpFamily {
  Unary,            ///< one input, same shape: arithmetic maps and Cast
  Binary,           ///< two broadcast inputs: arithmetic, logic, comparisons
  Select,           ///< Where
  FusedElementwise, ///< a program of Unary/Binary steps (ir/FusedProgram.h)
  Conv,             ///< Conv, ConvTranspose, ConvInteger
  Pool,             ///< windowed and global pooling
  Norm,             ///< BatchNormalization
  Linalg,           ///< MatMul, MatMulInteger, Gemm
  Softmax,          ///< Softmax, LogSoftmax
  Movement,         ///< copies, views and gathers: Identity, Concat, Slice, Reshape, ...
  Resize,           ///< Resize
  Reduce,           ///< Reduce*, Arg*, TopK
  Quant,            ///< (De)QuantizeLinear, DynamicQuantizeLinear
};

/// The family's name as in ops.def ("Conv").
std::string_view op_family_name(OpFamily f);

/// Trait flags of ops.def's third column (what each means is written there).
enum class OpTrait : uint32_t {
  None = 0,
  Elementwise = 1u << 0,
  EwFusable = 1u << 1,
  ConvActivation = 1u << 2,
  Cheap = 1u << 3,
};
constexpr OpTrait operator|(OpTrait a, OpTrait b) {
  return static_cast<OpTrait>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b));
}

namespace detail {
struct OpInfo {
  std::string_view name;
  OpFamily family;
  OpTrait traits;
};
// The traits column is evaluated with OpTrait's names in scope.
inline constexpr OpInfo kOpTable[] = {
#define KILN_OP(name, family, traits)                                                              \
  {#name, OpFamily::family, [] {                                                                   \
     using enum OpTrait;                                                                           \
     return traits;                                                                                \
   }()},
#include "ir/ops.def"
#undef KILN_OP
};
} // namespace detail

/// The number of ops in the table.
inline constexpr size_t kNumOps = std::size(detail::kOpTable);

/// The op's name as written in the text IR ("Conv").
constexpr std::string_view op_name(OpKind op) {
  return detail::kOpTable[static_cast<size_t>(op)].name;
}
/// Inverse of op_name (exact, case-sensitive); nullopt for an unknown name.
constexpr std::optional<OpKind> parse_op(std::string_view name) {
  for (size_t i = 0; i < kNumOps; ++i)
    if (detail::kOpTable[i].name == name)
      return static_cast<OpKind>(i);
  return std::nullopt;
}
constexpr OpFamily op_family(OpKind op) { return detail::kOpTable[static_cast<size_t>(op)].family; }
/// All trait flags of `op`.
constexpr OpTrait op_traits(OpKind op) { return detail::kOpTable[static_cast<size_t>(op)].traits; }
/// True when `op` has trait `t` (a single flag).
constexpr bool has_trait(OpKind op, OpTrait t) {
  return (static_cast<uint32_t>(op_traits(op)) & static_cast<uint32_t>(t)) != 0;
}
/// Elementwise ops: the output shape is the broadcast of the inputs' shapes.
constexpr bool is_elementwise(OpKind op) { return has_trait(op, OpTrait::Elementwise); }

// ---- one enum per family, generated from the table ----
// Each enumerator has its OpKind's value, so converting is a cast. A switch over a family enum
// names only that family's ops and needs no `default:`: adding an op to the family makes the
// compiler (-Werror=switch) list every switch that must handle it.

// KILN_IF_FAMILY(family, wanted, ...) expands to `...` when the two family tokens are equal:
// KILN_FAMILY_EQ_X_X is a comma, which shifts the 1 into KILN_PP_THIRD's place.
#define KILN_PP_THIRD(a, b, c, ...) c
#define KILN_PP_THIRD_(...) KILN_PP_THIRD(__VA_ARGS__)
#define KILN_PP_CAT(a, b) KILN_PP_CAT_(a, b)
#define KILN_PP_CAT_(a, b) a##b
#define KILN_PP_WHEN_1(...) __VA_ARGS__
#define KILN_PP_WHEN_0(...)
#define KILN_IF_FAMILY(family, wanted, ...)                                                        \
  KILN_PP_CAT(KILN_PP_WHEN_, KILN_PP_THIRD_(KILN_FAMILY_EQ_##family##_##wanted, 1, 0))(__VA_ARGS__)
#define KILN_FAMILY_EQ_Unary_Unary ,
#define KILN_FAMILY_EQ_Binary_Binary ,
#define KILN_FAMILY_EQ_Select_Select ,
#define KILN_FAMILY_EQ_FusedElementwise_FusedElementwise ,
#define KILN_FAMILY_EQ_Conv_Conv ,
#define KILN_FAMILY_EQ_Pool_Pool ,
#define KILN_FAMILY_EQ_Norm_Norm ,
#define KILN_FAMILY_EQ_Linalg_Linalg ,
#define KILN_FAMILY_EQ_Softmax_Softmax ,
#define KILN_FAMILY_EQ_Movement_Movement ,
#define KILN_FAMILY_EQ_Resize_Resize ,
#define KILN_FAMILY_EQ_Reduce_Reduce ,
#define KILN_FAMILY_EQ_Quant_Quant ,
#define KILN_FAMILY_ENUMERATOR(name, family, wanted)                                               \
  KILN_IF_FAMILY(family, wanted, name = static_cast<int>(OpKind::name), )

enum class UnaryOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Unary)
#include "ir/ops.def"
#undef KILN_OP
};
enum class BinaryOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Binary)
#include "ir/ops.def"
#undef KILN_OP
};
enum class SelectOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Select)
#include "ir/ops.def"
#undef KILN_OP
};
enum class FusedElementwiseOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, FusedElementwise)
#include "ir/ops.def"
#undef KILN_OP
};
enum class ConvOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Conv)
#include "ir/ops.def"
#undef KILN_OP
};
enum class PoolOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Pool)
#include "ir/ops.def"
#undef KILN_OP
};
enum class NormOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Norm)
#include "ir/ops.def"
#undef KILN_OP
};
enum class LinalgOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Linalg)
#include "ir/ops.def"
#undef KILN_OP
};
enum class SoftmaxOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Softmax)
#include "ir/ops.def"
#undef KILN_OP
};
enum class MovementOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Movement)
#include "ir/ops.def"
#undef KILN_OP
};
enum class ResizeOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Resize)
#include "ir/ops.def"
#undef KILN_OP
};
enum class ReduceOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Reduce)
#include "ir/ops.def"
#undef KILN_OP
};
enum class QuantOp {
#define KILN_OP(name, family, traits) KILN_FAMILY_ENUMERATOR(name, family, Quant)
#include "ir/ops.def"
#undef KILN_OP
};

/// The enum of family F (FamilyEnum<OpFamily::Conv> is ConvOp).
template <OpFamily F> struct FamilyEnumOf;
template <> struct FamilyEnumOf<OpFamily::Unary> { using type = UnaryOp; };
template <> struct FamilyEnumOf<OpFamily::Binary> { using type = BinaryOp; };
template <> struct FamilyEnumOf<OpFamily::Select> { using type = SelectOp; };
template <> struct FamilyEnumOf<OpFamily::FusedElementwise> { using type = FusedElementwiseOp; };
template <> struct FamilyEnumOf<OpFamily::Conv> { using type = ConvOp; };
template <> struct FamilyEnumOf<OpFamily::Pool> { using type = PoolOp; };
template <> struct FamilyEnumOf<OpFamily::Norm> { using type = NormOp; };
template <> struct FamilyEnumOf<OpFamily::Linalg> { using type = LinalgOp; };
template <> struct FamilyEnumOf<OpFamily::Softmax> { using type = SoftmaxOp; };
template <> struct FamilyEnumOf<OpFamily::Movement> { using type = MovementOp; };
template <> struct FamilyEnumOf<OpFamily::Resize> { using type = ResizeOp; };
template <> struct FamilyEnumOf<OpFamily::Reduce> { using type = ReduceOp; };
template <> struct FamilyEnumOf<OpFamily::Quant> { using type = QuantOp; };
template <OpFamily F> using FamilyEnum = typename FamilyEnumOf<F>::type;

/// `op` as an enumerator of its family's enum; `op` must be of family F (internal error
/// otherwise).
template <OpFamily F> constexpr FamilyEnum<F> family_op(OpKind op) {
  KILN_ASSERT(op_family(op) == F, "family_op: " + std::string(op_name(op)) + " is not a " +
                                      std::string(op_family_name(F)) + " op");
  return static_cast<FamilyEnum<F>>(static_cast<int>(op));
}

/// The OpKind of a family enumerator (inverse of family_op).
template <class E> constexpr OpKind to_op(E family_enumerator) {
  return static_cast<OpKind>(static_cast<int>(family_enumerator));
}

#undef KILN_FAMILY_ENUMERATOR
#undef KILN_FAMILY_EQ_Unary_Unary
#undef KILN_FAMILY_EQ_Binary_Binary
#undef KILN_FAMILY_EQ_Select_Select
#undef KILN_FAMILY_EQ_FusedElementwise_FusedElementwise
#undef KILN_FAMILY_EQ_Conv_Conv
#undef KILN_FAMILY_EQ_Pool_Pool
#undef KILN_FAMILY_EQ_Norm_Norm
#undef KILN_FAMILY_EQ_Linalg_Linalg
#undef KILN_FAMILY_EQ_Softmax_Softmax
#undef KILN_FAMILY_EQ_Movement_Movement
#undef KILN_FAMILY_EQ_Resize_Resize
#undef KILN_FAMILY_EQ_Reduce_Reduce
#undef KILN_FAMILY_EQ_Quant_Quant
#undef KILN_IF_FAMILY
#undef KILN_PP_WHEN_0
#undef KILN_PP_WHEN_1
#undef KILN_PP_CAT_
#undef KILN_PP_CAT
#undef KILN_PP_THIRD_
#undef KILN_PP_THIRD

} // namespace kiln
