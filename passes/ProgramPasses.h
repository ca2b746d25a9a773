#pragma once
/// Passes over the lowered Program (buffers and launches), run after lowering and before
/// kernel passes/codegen. The PassManager (passes/PassManager.h) names them in pipelines.
#include "passes/Program.h"

namespace kiln {

/// "concat": concat elimination. Producers of a Concat input write straight into their slice
/// of the concat output and Split/Slice consumers read views, when the slice is contiguous
/// (batch 1, concatenation over the outermost non-unit axis): the copy launches disappear and
/// the buffers become aliases (BufferDecl::alias_of + alias_offset). Also turns Reshape and
/// Identity copies into aliases. Returns true if it changed the program.
/// Before: conv -> %a; conv -> %b; concat_copy(%a -> %c[0:n]); concat_copy(%b -> %c[n:2n])
/// After:  conv -> %c[0:n] (alias); conv -> %c[n:2n] (alias)
bool eliminate_concat(Program &p);

} // namespace kiln
