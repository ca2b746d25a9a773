#pragma once
/// Kernel IR passes: transformations of the loop IR that every backend relies on.
#include "ir/Kernel.h"

namespace kiln {

/// Replaces each Vectorized loop (constant extent N) by its body with the loop variable bound
/// to Ramp(min, 1, N): loads/stores of Ramp indices become vector accesses, scalars mixed with
/// vectors are Broadcast. Before: for i in [0,16) vectorized: b[i] = a[i] + 1.0
/// After: b[ramp(0,1,16)] = a[ramp(0,1,16)] + broadcast(1.0, 16)
Kernel vectorize(const Kernel &k);

/// Replaces each Unrolled loop by copies of its body with the variable bound to each constant.
/// Before: for j in [0,2) unrolled: s(j)   After: s(0); s(1)
Kernel unroll(const Kernel &k);

/// Folds constant integer arithmetic and trivial identities (x*1, x+0, ramp of constants) so
/// unrolled and vectorized index expressions stay small. Never changes results.
Kernel simplify(const Kernel &k);

/// The standard order for codegen: unroll, vectorize, simplify.
Kernel prepare_for_codegen(const Kernel &k);

} // namespace kiln
