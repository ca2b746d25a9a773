#pragma once
/// Tuned conv tiles: the table `kiln tune` fills (timed on this machine) and lowering reads,
/// keyed by layer shape and dtype, so a shape tuned for one model serves every model.
///
///   ConvTuning tuning;                               // from runtime/TuningDb.h, or by hand
///   tuning.tiles[conv_tuning_key(g, DType::f32)] = parse_conv_tiles("ocb=4 nv=1 ...");
///   opt.conv_tuning = &tuning;
///   ConvTiles t = conv_tiles_for(g, DType::f32, opt); // the entry; else choose_conv_tiles
#include "ir/DType.h"
#include "passes/ConvTileCost.h"

#include <map>
#include <string>
#include <string_view>

namespace kiln {

/// Tuned tiles by conv_tuning_key.
struct ConvTuning {
  std::map<std::string, ConvTiles> tiles;
};

/// Every ConvGeom field and the input dtype, e.g. "f32 n=1 c=64 h=80 w=80 m=64 ... pl=1".
std::string conv_tuning_key(const ConvGeom &g, DType dtype);

/// Every ConvTiles field by name: "ocb=8 nv=2 lanes=16 flat=0 rows=1 row_len=1".
std::string conv_tiles_str(const ConvTiles &t);
/// Inverse of conv_tiles_str (fields in any order, each exactly once). Throws kiln::Error
/// "conv tiles 'TEXT': ..." for a missing, repeated or unknown field or a size below 1.
ConvTiles parse_conv_tiles(std::string_view text);

/// The tiles lowering uses for conv `g`: opt.conv_tuning's entry for its key when there is one,
/// else choose_conv_tiles(g, opt). Explicit `tile` pass options (tile off, tile_oc, tile_px)
/// win over the table. Throws kiln::Error naming the key for an entry that does not fit `g`
/// on this target (other vector width, a flat tile for a non-pointwise conv, too few pixels).
ConvTiles conv_tiles_for(const ConvGeom &g, DType dtype, const LowerOptions &opt);

} // namespace kiln
