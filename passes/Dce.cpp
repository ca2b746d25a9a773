// Dead-code elimination: a thin pass over Graph::remove_dead, which owns the liveness walk.
#include "passes/Dce.h"

namespace kiln {

bool eliminate_dead_code(Graph &g) {
  size_t nodes = g.nodes().size(), values = g.values().size();
  g.remove_dead();
  return g.nodes().size() != nodes || g.values().size() != values;
}

} // namespace kiln
