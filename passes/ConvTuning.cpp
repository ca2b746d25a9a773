// Tuned conv tiles: keys, the text form and the lookup (see passes/ConvTuning.h).
#include "passes/ConvTuning.h"

#include "ir/Error.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <type_traits>
#include <vector>

namespace kiln {

namespace {

// The field lists: a new ConvGeom or ConvTiles field is one line here (the static_asserts
// point at them), so keys and the text form always name every field.
// ConvGeom::half is not a key field: the key's dtype and the database section's target imply it.
static_assert(sizeof(ConvGeom) == 21 * sizeof(int64_t),
              "ConvGeom changed: list its new field in geom_fields (passes/ConvTuning.cpp)");
template <class G, class F> void geom_fields(G &g, F &&f) {
  f("n", g.n), f("c", g.c), f("h", g.h), f("w", g.w), f("m", g.m), f("oh", g.oh), f("ow", g.ow);
  f("kh", g.kh), f("kw", g.kw), f("group", g.group), f("cg", g.cg), f("mg", g.mg);
  f("sh", g.sh), f("sw", g.sw), f("dh", g.dh), f("dw", g.dw), f("pt", g.pt), f("pl", g.pl);
  f("x_block", g.x_block), f("y_block", g.y_block);
}

static_assert(sizeof(ConvTiles) == 9 * sizeof(int64_t),
              "ConvTiles changed: list its new field in tile_fields (passes/ConvTuning.cpp)");
template <class T, class F> void tile_fields(T &t, F &&f) {
  f("ocb", t.ocb), f("nv", t.nv), f("lanes", t.lanes), f("flat", t.flat), f("rows", t.rows);
  f("row_len", t.row_len), f("blocked", t.blocked), f("px", t.px), f("oc_outer", t.oc_outer);
}

std::string fields_str(const auto &s, auto &&visit) {
  std::string out;
  visit(s, [&](const char *name, const auto &v) {
    out += (out.empty() ? "" : " ") + std::string(name) + "=" + std::to_string(int64_t(v));
  });
  return out;
}

} // namespace

std::string conv_tuning_key(const ConvGeom &g, DType dtype) {
  return std::string(dtype_name(dtype)) + " " +
         fields_str(g, [](auto &s, auto &&f) { geom_fields(s, f); });
}

std::string conv_tiles_str(const ConvTiles &t) {
  return fields_str(t, [](auto &s, auto &&f) { tile_fields(s, f); });
}

ConvTiles parse_conv_tiles(std::string_view text) {
  auto fail = [&](const std::string &why) {
    throw Error("conv tiles '" + std::string(text) + "': " + why);
  };
  std::map<std::string, int64_t, std::less<>> given;
  for (size_t at = 0; at < text.size();) {
    size_t end = std::min(text.find(' ', at), text.size());
    std::string_view item = text.substr(at, end - at);
    at = end + 1;
    if (item.empty())
      continue;
    size_t eq = item.find('=');
    int64_t v = 0;
    const char *vb = item.data() + eq + 1, *ve = item.data() + item.size();
    if (eq == std::string_view::npos || std::from_chars(vb, ve, v).ptr != ve || vb == ve)
      fail("'" + std::string(item) + "' is not NAME=INTEGER");
    if (!given.emplace(std::string(item.substr(0, eq)), v).second)
      fail("field '" + std::string(item.substr(0, eq)) + "' given twice");
  }
  ConvTiles t;
  size_t used = 0;
  tile_fields(t, [&](const char *name, auto &v) {
    auto it = given.find(std::string_view(name));
    if (it == given.end())
      fail(std::string("field '") + name + "' is missing");
    bool is_flag = std::is_same_v<std::remove_reference_t<decltype(v)>, bool>;
    if (is_flag ? it->second != 0 && it->second != 1 : it->second < 1)
      fail(std::string("field '") + name + "' must be " + (is_flag ? "0 or 1" : "at least 1"));
    v = static_cast<std::remove_reference_t<decltype(v)>>(it->second);
    ++used;
  });
  if (used != given.size()) {
    std::set<std::string> known;
    tile_fields(t, [&](const char *name, auto &) { known.insert(name); });
    for (const auto &[name, v] : given)
      if (!known.count(name))
        fail("unknown field '" + name + "'");
  }
  return t;
}

ConvTiles conv_tiles_for(const ConvGeom &g, DType dtype, const LowerOptions &opt) {
  const bool given = !opt.tile || opt.tile_oc > 0 || opt.tile_px > 0;
  if (given || !opt.conv_tuning)
    return choose_conv_tiles(g, opt);
  const std::string key = conv_tuning_key(g, dtype);
  auto it = opt.conv_tuning->tiles.find(key);
  if (it == opt.conv_tuning->tiles.end())
    return choose_conv_tiles(g, opt);
  const ConvTiles &t = it->second;
  // An entry is this machine's measurement for this shape, but the file is user data: check
  // that the kernel it asks for covers the conv.
  std::string bad;
  if (t.lanes != opt.vector_lanes_f32)
    bad = "lanes=" + std::to_string(t.lanes) + " but the target's vectors have " +
          std::to_string(opt.vector_lanes_f32);
  else if (t.flat && !g.is_pointwise())
    bad = "flat=1 needs a 1x1 stride-1 unpadded conv";
  else if (t.flat && t.rows * t.row_len < g.oh * g.ow)
    bad = "rows x row_len cover fewer than the " + std::to_string(g.oh * g.ow) + " pixels";
  else if (g.mg == 1 && t.ocb != 1 && !g.blocked())
    bad = "ocb must be 1 for one output channel per group";
  else if (t.blocked != g.blocked())
    bad = t.blocked ? "blocked=1 for an NCHW conv" : "blocked=0 for a blocked conv";
  else if (t.blocked && t.ocb % std::max(g.x_block, g.y_block) != 0)
    bad = "ocb must be whole channel blocks";
  if (!bad.empty())
    throw Error("conv tuning entry '" + key + "' (" + conv_tiles_str(t) + "): " + bad +
                "; tune again with 'kiln tune --retune'");
  return t;
}

} // namespace kiln
