#pragma once
/// The text form of the graph IR; parse_graph (ir/Parser.h) reads it back.
///
///   graph(%images: f32[1,3,640,640]) -> (%output0) {
///     %w = const f32[16,3,3,3] [0.5, -1.25, ...]
///     %y = Conv(%images, %w, _) {dilations=[1,1], group=1, pads=[1,1,1,1], strides=[2,2]} :
///     f32[1,16,320,320] loc("/model.0/conv/Conv") %a, %b = Split(%y) {axis=1, split=[8,8]} :
///     f32[1,8,320,320], f32[1,8,320,320]
///   }
///
/// Names that are not [A-Za-z0-9_.]+ are quoted (%"a/b:0"); `_` is an absent input. Floats
/// print with enough digits to round-trip exactly.
#include "ir/Graph.h"

#include <ostream>
#include <string>

namespace kiln {

struct PrintOptions {
  /// Constants with more elements than this print as `<elided N elements>` (not parseable).
  /// -1 prints everything (round-trip form).
  int64_t max_constant_elements = -1;
};

void print_graph(std::ostream &os, const Graph &g, const PrintOptions &opt = {});
std::string graph_to_string(const Graph &g, const PrintOptions &opt = {});

} // namespace kiln
