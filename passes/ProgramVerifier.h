#pragma once
/// Structural checks of a lowered Program: what lowering produces and every program pass must
/// preserve. The PassManager runs it after lowering and after each program pass when
/// PassOptions::verify_each_pass is on.
///
///   verify_program(prog);  // throws kiln::Error "launch 3 (conv2d_3x3s1_f32): arg 2 ..."
#include "passes/Program.h"

namespace kiln {

/// Checks that program inputs, outputs and launch arguments name existing buffers; each launch
/// binds one buffer per kernel parameter, of the parameter's dtype and element count; a view
/// (alias_of) is an intermediate buffer that points straight at a root buffer other than
/// itself and lies inside it. Throws kiln::Error naming the buffer or launch and the problem.
void verify_program(const Program &p);

} // namespace kiln
