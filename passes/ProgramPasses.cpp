// Program passes: rewrites of the lowered buffer table and launch list.
//
// eliminate_concat turns plain copies (CopyDesc, set by lowering) into views. Two directions:
//   view of the source  (Split, contiguous Slice, Reshape, Identity): the copy's destination
//       becomes an alias of the source range it copied; the consumers read the source in place.
//   view of the destination (Concat): the copy's source becomes an alias of its slice of the
//       destination; its producer writes straight into the concat output.
// Both are exact because every kernel addresses its buffers as plain row-major arrays from a
// base pointer: an alias only moves that base pointer. What keeps them safe is that every
// buffer is written once, by its producer(s), before any read (the program is in SSA form), so
// no byte of a shared region is written twice.
#include "passes/ProgramPasses.h"

#include <algorithm>

namespace kiln {

namespace {

using Kind = BufferDecl::Kind;

int64_t elem_bytes(const BufferDecl &b) { return static_cast<int64_t>(dtype_size(b.dtype)); }

int64_t numel(const BufferDecl &b) { return shape_numel(b.shape); }

struct Views {
  Program &p;
  std::vector<bool> weight_touched; ///< read or written by a weight-only launch
  std::vector<bool> drop;           ///< launches found redundant

  explicit Views(Program &prog)
      : p(prog), weight_touched(prog.buffers.size(), false), drop(prog.launches.size(), false) {
    for (const Launch &l : p.launches)
      if (l.weight_only)
        for (int b : l.args)
          weight_touched[b] = true;
  }

  /// The buffer that owns `b`'s memory and `b`'s byte offset in it.
  int root(int b, int64_t *offset = nullptr) const {
    int64_t off = 0;
    while (p.buffers[b].alias_of >= 0) {
      off += p.buffers[b].alias_offset;
      b = p.buffers[b].alias_of;
    }
    if (offset)
      *offset = off;
    return b;
  }

  /// May `b` give up its own memory and become a view? Only a plain activation: inputs,
  /// outputs and constants are bound to memory the runtime does not plan, and a buffer that
  /// already is a view cannot live in two places.
  bool can_become_view(int b) const {
    const BufferDecl &d = p.buffers[b];
    return d.kind == Kind::Intermediate && !d.weight_only && d.alias_of < 0 && !weight_touched[b];
  }

  /// May views be placed into the memory of root `r`? Inputs only for reading (`write`
  /// false); never weights, which are computed once at capture.
  bool can_host(int r, bool write) const {
    const BufferDecl &d = p.buffers[r];
    if (d.kind == Kind::Constant || d.weight_only || weight_touched[r])
      return false;
    return !write || d.kind != Kind::Input;
  }

  bool make_view(int b, int base, int64_t byte_offset) {
    int64_t base_off = 0;
    int r = root(base, &base_off);
    if (r == b) // would make a cycle
      return false;
    BufferDecl &d = p.buffers[b];
    d.alias_of = base;
    d.alias_offset = byte_offset;
    return true;
  }

  /// The copy's destination becomes a view of the source range it copies.
  bool view_of_source(const CopyDesc &c) {
    const BufferDecl &src = p.buffers[c.src], &dst = p.buffers[c.dst];
    bool src_contiguous = c.rows == 1 || c.src_row == c.len;
    bool covers_dst =
        c.dst_at == 0 && c.rows * c.len == numel(dst) && (c.rows == 1 || c.dst_row == c.len);
    if (!src_contiguous || !covers_dst || src.dtype != dst.dtype || !can_become_view(c.dst))
      return false;
    if (!can_host(root(c.src), false))
      return false;
    return make_view(c.dst, c.src, c.src_at * elem_bytes(src));
  }

  /// Full contiguous copy of `c.src` into one run of `c.dst`?
  bool whole_source_run(const CopyDesc &c) const {
    const BufferDecl &src = p.buffers[c.src], &dst = p.buffers[c.dst];
    bool dst_contiguous = c.rows == 1 || c.dst_row == c.len;
    bool covers_src =
        c.src_at == 0 && c.rows * c.len == numel(src) && (c.rows == 1 || c.src_row == c.len);
    return dst_contiguous && covers_src && src.dtype == dst.dtype;
  }

  /// The copy's source moves into its slice of the destination. When the source is itself a
  /// view (a Split output), its root moves instead, whole: Split -> ... -> Concat of the same
  /// halves (YOLOv8's C2f) then costs no copy at all. Every other copy into the region the
  /// root would take must be one of its own views landing where it already is (dropped with
  /// this one), and no other producer may already write there.
  bool view_of_destination(size_t launch, const CopyDesc &c) {
    if (!whole_source_run(c))
      return false;
    int64_t src_off = 0, dst_off = 0;
    int r = root(c.src, &src_off), dr = root(c.dst, &dst_off);
    if (r == dr || !can_host(dr, true))
      return false;
    const BufferDecl &rb = p.buffers[r];
    if (rb.kind != Kind::Intermediate || rb.weight_only || weight_touched[r])
      return false;
    int64_t base = dst_off + c.dst_at * elem_bytes(p.buffers[c.dst]) - src_off;
    int64_t end = base + numel(rb) * elem_bytes(rb);
    if (base < 0 || end > numel(p.buffers[dr]) * elem_bytes(p.buffers[dr]))
      return false;

    std::vector<size_t> also_drop;
    for (size_t j = 0; j < p.launches.size(); ++j) {
      const Launch &l = p.launches[j];
      if (drop[j] || !l.copy || root(l.copy->dst) != dr)
        continue;
      const CopyDesc &o = *l.copy;
      int64_t o_src_off = 0, o_dst_off = 0;
      root(o.dst, &o_dst_off);
      int64_t esz = elem_bytes(p.buffers[o.dst]);
      int64_t lo = o_dst_off + o.dst_at * esz;
      int64_t hi = lo + ((o.rows - 1) * o.dst_row + o.len) * esz;
      if (hi <= base || lo >= end)
        continue; // writes elsewhere
      bool lands_in_place = !l.weight_only && whole_source_run(o) && root(o.src, &o_src_off) == r &&
                            o_src_off + base == lo;
      if (!lands_in_place)
        return false;
      if (j != launch)
        also_drop.push_back(j);
    }
    // Producers already writing into the destination (earlier sources moved there); the
    // root's own views are not among them, as the root is not in the destination yet.
    for (size_t b = 0; b < p.buffers.size(); ++b) {
      int64_t off = 0;
      if (int(b) == dr || root(int(b), &off) != dr)
        continue;
      int64_t hi = off + numel(p.buffers[b]) * elem_bytes(p.buffers[b]);
      if (hi > base && off < end)
        return false;
    }
    BufferDecl &d = p.buffers[r];
    d.alias_of = dr;
    d.alias_offset = base;
    for (size_t j : also_drop)
      drop[j] = true;
    return true;
  }

  /// Points every view straight at its root (alias_of of an alias -> the root).
  void flatten() {
    for (size_t b = 0; b < p.buffers.size(); ++b) {
      int64_t off = 0;
      int r = root(static_cast<int>(b), &off);
      if (r == static_cast<int>(b))
        continue;
      p.buffers[b].alias_of = r;
      p.buffers[b].alias_offset = off;
    }
  }
};

} // namespace

bool eliminate_concat(Program &p) {
  Views v(p);
  bool changed = false;
  for (size_t i = 0; i < p.launches.size(); ++i) {
    const Launch &l = p.launches[i];
    if (v.drop[i] || !l.copy || l.weight_only)
      continue;
    const CopyDesc &c = *l.copy;
    if (c.src < 0 || c.dst < 0 || c.src == c.dst || c.rows * c.len == 0)
      continue;
    if (v.view_of_source(c) || v.view_of_destination(i, c)) {
      v.drop[i] = true;
      changed = true;
    }
  }
  if (!changed)
    return false;
  v.flatten();
  std::vector<Launch> kept;
  kept.reserve(p.launches.size());
  for (size_t i = 0; i < p.launches.size(); ++i)
    if (!v.drop[i])
      kept.push_back(std::move(p.launches[i]));
  p.launches = std::move(kept);
  return true;
}

} // namespace kiln
