#pragma once
/// Reads the text form written by ir/Printer.h.
#include "ir/Graph.h"

#include <memory>
#include <string_view>

namespace kiln {

/// Parses text IR into a graph and verifies it. Throws kiln::Error "line L:C: message" on
/// malformed text.
std::unique_ptr<Graph> parse_graph(std::string_view text);

} // namespace kiln
