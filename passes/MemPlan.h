#pragma once
/// The `memplan` pass: where every intermediate buffer of a lowered Program lives in the one
/// activation arena. Pure: it reads the Program (buffers, launches, views) and returns byte
/// offsets and sizes; it allocates nothing. The runtime allocates the arena from the plan
/// (CompiledSchedule::capture, runtime/CompiledSchedule.h): plan, then allocate.
///
///   MemPlan m = plan_memory(prog);  // m.offset[b]: buffer b's offset in the arena, or -1
///   arena = AlignedBytes(m.arena_bytes);
///   // m.lower_bound <= m.arena_bytes <= m.naive_bytes (with Program::plan_memory on)
#include "passes/Program.h"

#include <cstdint>
#include <vector>

namespace kiln {

/// A buffer's launch indices of the replay [first, last] (inclusive) and its size in bytes.
struct ArenaRequest {
  int64_t bytes;
  int first, last;
};

/// Placement of `ArenaRequest`s into one arena.
struct ArenaPlan {
  std::vector<int64_t> offsets; ///< one per request
  int64_t bytes = 0;            ///< the arena size
  int64_t lower_bound = 0;      ///< max over launches of the bytes live at it
  int64_t naive = 0;            ///< sum of all sizes
};

/// Places buffers with lifetimes [first, last] into one arena: greedy, one buffer at a time in
/// a priority order, each into the best-fitting gap among the already placed buffers whose
/// lifetimes overlap. Several orders (by size, by lifetime length, by size x lifetime, then
/// sizes with seeded noise) are tried until one meets the lower bound, and the smallest arena
/// kept. Offsets are multiples of `align`; sizes count rounded up to it. Deterministic.
ArenaPlan plan_arena(const std::vector<ArenaRequest> &req, int64_t align = 64);

/// The memory plan of a Program: which buffers live in the arena and where.
struct MemPlan {
  /// Per program buffer: its byte offset in the arena; -1 for a buffer outside it (inputs,
  /// outputs, constants and what the weight-only launches compute, buffers no replay launch
  /// touches, and views, which live inside their root).
  std::vector<int64_t> offset;
  int64_t arena_bytes = 0; ///< the arena size
  /// The most bytes live at one launch (no placement does better) and the sum of all arena
  /// buffers (no reuse at all).
  int64_t lower_bound = 0, naive_bytes = 0;
};

/// Plans the arena of `p` as the runtime replays it: launches that are weight-only and touch no
/// input or output run once at capture and are not part of the replay; a view (alias_of)
/// extends its root's lifetime; a graph output that is copied out after the run (a buffer that
/// is not the output's own) lives to the end. With p.plan_memory (the `memplan` pass)
/// intermediates share memory by lifetime (plan_arena); without it every one gets its own bytes,
/// one after another. Offsets are multiples of 64.
MemPlan plan_memory(const Program &p);

} // namespace kiln
